#!/usr/bin/python3
# A scriptable MS-SWN client built on Samba's python bindings (samba.dcerpc.witness), used by the
# tests as a real, independent peer. Reads a JSON list of steps on stdin, prints one JSON line per
# step. Run with Debian's /usr/bin/python3 (python3-samba).
#
# Steps: {"op": "connect", "conn": "a", "host": "127.0.0.1", "port": 5999 | null (null: resolve
#          through the endpoint mapper on 135), "assoc": 4660 (join that association group),
#          "user": "alice", "password": "...", "domain": "WG" (absent: anonymous),
#          "options": ["sign", "ntlm"] (binding options: sign, seal, ntlm, spnego, krb5, connect, packet, ...),
#          "kerberos": "required" | "disabled" (default: disabled for NTLM tests),
#          "ccache": "FILE:/path" (Kerberos from that credential cache instead of user/password)}
#        {"op": "GetInterfaceList", "conn": "a"}
#        {"op": "Register", "conn": "a", "version": 65537, "net": "X", "ip": "1.2.3.4", "client": "c", "save": "h"}
#        {"op": "RegisterEx", ..., "share": null, "flags": 0, "timeout": 120, "save": "h"}
#        {"op": "UnRegister" | "UnRegisterEx", "conn": "a", "handle": "h"}
#        {"op": "AsyncNotify", "conn": "a", "handle": "h"}   (blocks: Samba's bindings hold the GIL,
#          so a call pending "while another runs" needs a second client process)
#        {"op": "handle", "save": "h", "uuid": "..."}   (a handle learnt elsewhere, e.g. from the store)
#        {"op": "sleep", "s": 0.5}   {"op": "close", "conn": "a"}
import json
import struct
import sys
import time

from samba import param, credentials, WERRORError, NTSTATUSError
from samba.dcerpc import witness, misc
from samba.ndr import ndr_pack, ndr_unpack

lp = param.LoadParm()


def make_creds(s):
    c = credentials.Credentials()
    c.guess(lp)
    if s.get("ccache"):
        # Kerberos from a credential cache (kinit'ed, service tickets fetched): no password, no KDC needed.
        c.set_named_ccache(s["ccache"], credentials.SPECIFIED, lp)
        c.set_kerberos_state(credentials.MUST_USE_KERBEROS)
        return c
    if s.get("user") is None:
        c.set_anonymous()  # an unauthenticated bind (or anonymous NTLMSSP with options)
        return c
    c.set_username(s["user"])
    c.set_password(s.get("password", ""))
    c.set_domain(s.get("domain", ""))
    c.set_workstation(s.get("workstation", "PYCLIENT"))
    k = s.get("kerberos", "disabled")
    c.set_kerberos_state({"required": credentials.MUST_USE_KERBEROS, "disabled": credentials.DONT_USE_KERBEROS,
                          "auto": credentials.AUTO_USE_KERBEROS}[k])
    return c

conns = {}
handles = {}


def ipv6_text(v):
    return str(v)


def decode_notify(r):
    out = {"type": r.type, "length": r.length, "num": r.num, "messages": []}
    for m in r.messages:
        if r.type == witness.WITNESS_NOTIFY_RESOURCE_CHANGE:
            out["messages"].append({"name": m.name, "change": m.type})
        else:
            addrs = []
            for a in m.addr:
                addrs.append({"flags": a.flags, "ipv4": a.ipv4, "ipv6": ipv6_text(a.ipv6)})
            out["messages"].append({"addresses": addrs})
    return out


def run_notify(c, h):
    try:
        return {"ok": True, "werror": 0, "result": decode_notify(c.AsyncNotify(h))}
    except WERRORError as e:
        return {"ok": False, "werror": e.args[0]}
    except NTSTATUSError as e:
        return {"ok": False, "ntstatus": e.args[0], "error": e.args[1]}
    except RuntimeError as e:
        return {"ok": False, "fault": e.args[0] if e.args else None, "error": str(e)}


def step(s):
    op = s["op"]
    if op == "connect":
        host = s.get("host", "127.0.0.1")
        opts = []
        if s.get("port") is not None:
            opts.append(str(s["port"]))
        if s.get("assoc"):
            opts.append("assoc_group_id=0x%08x" % s["assoc"])
        opts.extend(s.get("options", []))
        binding = "ncacn_ip_tcp:%s[%s]" % (host, ",".join(opts)) if opts else "ncacn_ip_tcp:%s" % host
        conns[s["conn"]] = witness.witness(binding, lp, make_creds(s))
        return {"ok": True, "binding": binding}
    if op == "close":
        del conns[s["conn"]]
        return {"ok": True}
    if op == "sleep":
        time.sleep(s["s"])
        return {"ok": True}
    if op == "handle":
        h = misc.policy_handle()
        h.handle_type = 0
        h.uuid = misc.GUID(s["uuid"])
        handles[s["save"]] = h
        return {"ok": True}
    c = conns[s["conn"]]
    if op == "GetInterfaceList":
        r = c.GetInterfaceList()
        return {"ok": True, "werror": 0, "interfaces": [
            {"name": i.group_name, "version": i.version, "state": i.state, "ipv4": i.ipv4, "ipv6": str(i.ipv6), "flags": i.flags}
            for i in r.interfaces]}
    if op in ("Register", "RegisterEx"):
        if op == "Register":
            h = c.Register(s["version"], s.get("net"), s.get("ip"), s.get("client"))
        else:
            h = c.RegisterEx(s["version"], s.get("net"), s.get("share"), s.get("ip"), s.get("client"), s.get("flags", 0), s.get("timeout", 0))
        if s.get("save"):
            handles[s["save"]] = h
        return {"ok": True, "werror": 0, "handle": str(h.uuid)}
    if op == "UnRegister":
        c.UnRegister(handles[s["handle"]])
        return {"ok": True, "werror": 0}
    if op == "UnRegisterEx":
        # Opnum 5 is newer than this Samba's bindings: send the raw NDR ([in,out] handle).
        out = c.request(5, ndr_pack(handles[s["handle"]]))
        h = ndr_unpack(misc.policy_handle, out[:20])
        status = struct.unpack("<I", out[20:24])[0]
        return {"ok": status == 0, "werror": status, "handle": str(h.uuid)}
    if op == "AsyncNotify":
        return run_notify(c, handles[s["handle"]])
    if op == "raw":
        out = c.request(s["opnum"], bytes.fromhex(s["hex"]))
        return {"ok": True, "hex": out.hex()}
    raise ValueError("unknown op %r" % op)


def main():
    steps = json.load(sys.stdin)
    for i, s in enumerate(steps):
        try:
            r = step(s)
        except WERRORError as e:
            r = {"ok": False, "werror": e.args[0]}
        except NTSTATUSError as e:
            r = {"ok": False, "ntstatus": e.args[0], "error": e.args[1]}
        except RuntimeError as e:
            r = {"ok": False, "fault": e.args[0] if e.args else None, "error": str(e)}
        except Exception as e:  # report, never a traceback on stdout
            r = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        r["step"] = i
        r["op"] = s["op"]
        r["t"] = time.time()  # when the step finished (a notification's arrival), for benchmarks
        print(json.dumps(r), flush=True)


main()
