// IP addresses as the witness stores and compares them: one parser for the agent (the addresses
// configured on IP resources) and the service (the addresses clients send in RegisterEx). It lives
// in store/ because the stored text is the contract between the two: an address is written by the
// agent and looked up by witnessd in exactly the form canonicalAddress() gives.
//
// Strict on purpose. IPv4 is dotted decimal only (four numbers 0–255, no leading zeros): the short,
// hexadecimal and octal forms inet_aton(3) accepts ("127.1", "0x7f.1", "010.0.0.1") mean different
// addresses to different tools. IPv6 is anything RFC 4291 allows, written in the RFC 5952 form
// (lower case, no leading zeros, the longest run of two or more zero groups as "::") and always in
// hexadecimal, an embedded IPv4 included ("::ffff:1.2.3.4" is stored "::ffff:102:304"): the form
// the store has held since the first release and the one service/swn/messages.ts writes for
// addresses decoded from the wire, so the same address always compares equal. A zone ("%eth0") is
// refused, never stripped: see parseAddress.

export type AddressFamily = 4 | 6;

export interface Address {
  /** Canonical text. */
  address: string;
  family: AddressFamily;
}

export interface AddressWithPrefix extends Address {
  /** The "/N" given with the address, else null. */
  prefix: number | null;
}

/** Why a text is not an address, for messages; `zone` is set for a scoped IPv6 address. */
export interface AddressProblem {
  reason: string;
  zone?: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: AddressProblem };

const fail = (reason: string, zone?: string): { ok: false; problem: AddressProblem } => ({ ok: false, problem: zone !== undefined ? { reason, zone } : { reason } });

const DECIMAL_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;

/** The four octets of a strict dotted-decimal IPv4 address, or null. */
export function ipv4Octets(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!DECIMAL_OCTET.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * The eight 16-bit groups of an IPv6 address without a zone, or null. A parse of its own, not
 * net.isIPv6: the first call of that compiles a regular expression that costs node 20 ~60 ms of
 * CPU, more than a whole `witness-agent sync` otherwise spends on its work.
 */
export function ipv6Groups(text: string): number[] | null {
  if (text.length > 45 || text.includes('%')) return null;
  const dbl = text.indexOf('::');
  if (dbl >= 0 && text.indexOf('::', dbl + 1) >= 0) return null;
  // An embedded IPv4 address can only be the last 32 bits of the whole address.
  const side = (s: string, last: boolean): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] ?? '';
      if (last && i === parts.length - 1 && p.includes('.')) {
        const o = ipv4Octets(p);
        if (o === null) return null;
        out.push(((o[0] ?? 0) << 8) | (o[1] ?? 0), ((o[2] ?? 0) << 8) | (o[3] ?? 0));
      } else if (HEX_GROUP.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = side(dbl >= 0 ? text.slice(0, dbl) : text, dbl < 0);
  const tail = dbl >= 0 ? side(text.slice(dbl + 2), true) : [];
  if (head === null || tail === null) return null;
  if (dbl < 0) return head.length === 8 ? head : null;
  // "::" stands for one or more zero groups.
  const zeros = 8 - head.length - tail.length;
  if (zeros < 1) return null;
  return [...head, ...new Array<number>(zeros).fill(0), ...tail];
}

/** RFC 5952 text of eight groups: lower-case hex, the first longest run (≥ 2) of zeros as "::". */
export function ipv6Text(groups: readonly number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/**
 * An address (no prefix), surrounding white space ignored. Refused, each with its reason: an empty
 * text, IPv4 in any form but strict dotted decimal, malformed IPv6, and a scoped IPv6 address
 * ("fe80::1%eth0"). The zone is refused rather than stripped: it names an interface of the host that
 * wrote it, a link-local address is reachable only on that link, and the witness hands addresses
 * to SMB clients on other hosts and networks, which could not use it (and MS-SWN's IP lists carry
 * no scope). Stripping it would advertise an address that means "on your own link" to each client.
 */
export function parseAddress(text: string): Parsed<Address> {
  const t = text.trim();
  if (t === '') return fail('empty');
  const pct = t.indexOf('%');
  if (pct >= 0) {
    const zone = t.slice(pct);
    if (ipv6Groups(t.slice(0, pct)) !== null) {
      return fail(`a scoped IPv6 address (zone ${zone}), usable only on the link of the host that names that interface`, zone);
    }
    return fail('not an IP address');
  }
  if (t.includes(':')) {
    const g = ipv6Groups(t);
    return g === null ? fail('not an IPv6 address') : { ok: true, value: { address: ipv6Text(g), family: 6 } };
  }
  const o = ipv4Octets(t);
  if (o !== null) return { ok: true, value: { address: o.join('.'), family: 4 } };
  if (/^[0-9a-fA-FxX.]+$/.test(t)) return fail('not a dotted-decimal IPv4 address (four decimal numbers 0-255, no leading zeros; short, hexadecimal and octal forms are refused)');
  return fail('not an IP address');
}

/** The canonical text of an address, or null when parseAddress refuses it. */
export function canonicalAddress(text: string): string | null {
  const r = parseAddress(text);
  return r.ok ? r.value.address : null;
}

const PREFIX_DIGITS = /^(?:0|[1-9][0-9]{0,2})$/;

/**
 * A prefix length for `family`: decimal, no leading zeros (ip(8) would read "024" as octal), at
 * most 32 (IPv4) or 128 (IPv6); for IPv4 also a contiguous dotted netmask ("255.255.255.0" → 24).
 */
export function parsePrefix(text: string, family: AddressFamily): Parsed<number> {
  const t = text.trim();
  const max = family === 4 ? 32 : 128;
  if (PREFIX_DIGITS.test(t)) {
    const n = Number(t);
    return n <= max ? { ok: true, value: n } : fail(`prefix length ${n} is out of range for IPv${family} (0-${max})`);
  }
  if (family === 4) {
    const o = ipv4Octets(t);
    if (o !== null) {
      const bits = o.map((x) => x.toString(2).padStart(8, '0')).join('');
      if (/^1*0*$/.test(bits)) {
        const zero = bits.indexOf('0');
        return { ok: true, value: zero < 0 ? 32 : zero };
      }
      return fail('a netmask whose one bits are not contiguous');
    }
  }
  return fail(`not a prefix length (0-${max})`);
}

/** An address with an optional "/N" (IPv6addr's ipv6addr="2001:db8::1/64"), checked as parsePrefix. */
export function parseAddressWithPrefix(text: string): Parsed<AddressWithPrefix> {
  const t = text.trim();
  const slash = t.indexOf('/');
  const a = parseAddress(slash >= 0 ? t.slice(0, slash) : t);
  if (!a.ok) return a;
  if (slash < 0) return { ok: true, value: Object.assign({}, a.value, { prefix: null }) };
  const p = parsePrefix(t.slice(slash + 1), a.value.family);
  if (!p.ok) return p;
  return { ok: true, value: Object.assign({}, a.value, { prefix: p.value }) };
}
