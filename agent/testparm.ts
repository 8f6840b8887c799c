// What `testparm -s` prints, read back: the sections of the loaded Samba configuration and the
// shares a client can connect to, with the directory each one serves.
//
// testparm -s prints the configuration after Samba loaded it: includes followed, `copy =` applied,
// duplicate sections (in any case) merged, registry shares loaded when `registry shares = yes` or
// `include = registry` is set, and only parameters that differ from the defaults. Its format is one
// `[section]` line, then one `<TAB>name = value` line per parameter; `#` lines are comments.

/** One section as testparm printed it: parameter names lower-cased, values as printed. */
export interface SambaSection {
  name: string;
  params: Map<string, string>;
}

/** Parses testparm -s output. Lines that are neither headers nor `name = value` are ignored. */
export function parseTestparm(text: string): SambaSection[] {
  const out: SambaSection[] = [];
  const byName = new Map<string, SambaSection>();
  let cur: SambaSection | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[') && line.endsWith(']')) {
      const name = line.slice(1, -1).trim();
      // Share names are case-insensitive in Samba; testparm never prints one twice, but a
      // hand-written file given to this parser might.
      const key = name.toLowerCase();
      cur = byName.get(key) ?? null;
      if (cur === null) {
        cur = { name, params: new Map() };
        byName.set(key, cur);
        out.push(cur);
      }
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0 || cur === null) continue;
    // Parameter names are case- and blank-insensitive ("read only" = "readonly" = "Read Only"
    // for Samba); testparm prints the canonical spelling, lower-cased here.
    const name = line.slice(0, eq).trim().toLowerCase().replace(/\s+/g, ' ');
    cur.params.set(name, line.slice(eq + 1).trim());
  }
  return out;
}

/** Samba's boolean spellings (lib/param: yes/no, true/false, on/off, 1/0), or null. */
export function sambaBool(v: string | undefined): boolean | null {
  if (v === undefined) return null;
  const s = v.trim().toLowerCase();
  if (['yes', 'true', 'on', '1'].includes(s)) return true;
  if (['no', 'false', 'off', '0'].includes(s)) return false;
  return null;
}

/**
 * A path value as smbd uses it: smbd's lp_string() strips double quotes from both ends, unless
 * a quote is left inside, in which case the value is used as written.
 */
export function unquotePath(v: string): string {
  const trimmed = v.replace(/^"+/, '').replace(/"+$/, '');
  return trimmed.includes('"') ? v : trimmed;
}

/**
 * Lexical normal form of an absolute path: repeated and trailing slashes removed, "." and ".."
 * resolved without looking at the disk (a Filesystem resource's directory may not be mounted on
 * the node that reads it). Null for a relative path.
 */
export function normalizePath(p: string): string | null {
  if (!p.startsWith('/')) return null;
  const parts: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') parts.pop();
    else parts.push(c);
  }
  return `/${parts.join('/')}`;
}

/** A share of the SMB server, as clients see it. */
export interface SambaShare {
  /** As configured (case preserved; clients match it case-insensitively). */
  name: string;
  /** The path value, unquoted, as configured (null when the share has none). */
  path: string | null;
  /**
   * The fixed part of the path, normalized: the whole path, or for a path with substitutions
   * (%S, %U, ...) the directories before the first one that has one. Null when unusable.
   */
  fixedDir: string | null;
  /** [homes]: Samba serves a share named after each user from it, which no catalogue can list. */
  homes: boolean;
}

/**
 * The shares clients can connect to: every section except [global], IPC$, printable shares
 * ([printers] and any other print queue: the witness is for files) and those with
 * `available = no` (testparm also marks so a share without a path). [homes] is kept and flagged.
 */
export function sharesOf(sections: readonly SambaSection[]): SambaShare[] {
  const out: SambaShare[] = [];
  for (const s of sections) {
    const key = s.name.toLowerCase();
    if (key === 'global' || key === 'ipc$') continue;
    if (sambaBool(s.params.get('printable')) === true || sambaBool(s.params.get('print ok')) === true) continue;
    if (sambaBool(s.params.get('available')) === false) continue;
    const raw = s.params.get('path');
    const path = raw !== undefined && raw !== '' ? unquotePath(raw) : null;
    out.push({ name: s.name, path, fixedDir: path !== null ? fixedDirOf(path) : null, homes: key === 'homes' });
  }
  return out;
}

function fixedDirOf(path: string): string | null {
  const pct = path.indexOf('%');
  if (pct < 0) return normalizePath(path);
  // "/srv/fs1/home/%S" → "/srv/fs1/home"; "/srv/fs1/h%S" → "/srv/fs1".
  const cut = path.lastIndexOf('/', pct);
  return cut < 0 ? null : normalizePath(path.slice(0, cut === 0 ? 1 : cut));
}

/** The global section's parameters (empty when testparm printed none). */
export function globalOf(sections: readonly SambaSection[]): Map<string, string> {
  return sections.find((s) => s.name.toLowerCase() === 'global')?.params ?? new Map<string, string>();
}
