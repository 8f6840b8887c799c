#!/usr/bin/python3
# An SMB3 file-server client for the end-to-end test, built on Samba's own python bindings (Debian's
# python3-samba: the SMB2 client samba.samba3.libsmb_samba_internal.Conn and the MS-SWN client
# samba.dcerpc.witness). Run with /usr/bin/python3. One JSON object on stdin says what to do; every
# step prints one JSON line with the wall-clock time "t" (seconds) when it finished, so the test can
# put them on one timeline with the cluster's events.
#
#   {"mode": "once", ...}     write a file through the floating IP and read it back.
#   {"mode": "witness", ...}  write a file through the floating IP, register with the witness on
#       another node (authenticated), wait in AsyncNotify until the IP is reported UNAVAILABLE and
#       then AVAILABLE (registering again when the witness forgets the registration), reconnect to
#       the floating IP and read the file back.
#   {"mode": "plain", ...}    no witness: write the file, then read it every "interval" seconds on
#       the same connection; when a read fails, reconnect (retrying) and read it back. How long the
#       failure takes to show is TCP's business (retransmission, a reset, a tickle ACK).
#
# plain keys: interval (seconds between reads), smb_timeout_ms (the SMB client's request timeout).
# Common keys: vip, share, user, password, domain (the SMB account), file, data, deadline (seconds).
# witness keys: witness_host, witness_port, witness_user/password/domain, auth ("sign"|"seal"),
#               net, client.
import json
import socket
import sys
import time

from samba import param, credentials, NTSTATUSError, WERRORError
from samba.dcerpc import witness
from samba.samba3 import libsmb_samba_internal as libsmb
from samba.samba3 import param as s3param

lp = param.LoadParm()
# The SMB client takes the source3 flavour of the configuration (the other one makes Conn fail
# with INVALID_PARAMETER_MIX); its defaults, not the host's smb.conf.
smb_lp = s3param.get_context()
smb_lp.load("/dev/null")
# Only SMB3 dialects: share capabilities are an SMB3 feature (MS-SMB2 2.2.10).
smb_lp.set("client min protocol", "SMB3")
smb_lp.set("client max protocol", "SMB3_11")

V2 = 0x00020000
UNAVAILABLE = 0xFF
AVAILABLE = 1
ERROR_TIMEOUT = 1460
ERROR_NOT_FOUND = 1168


def emit(ev, **kw):
    kw["ev"] = ev
    kw["t"] = time.time()
    print(json.dumps(kw), flush=True)


def creds(user, password, domain):
    c = credentials.Credentials()
    c.guess(lp)
    c.set_username(user)
    c.set_password(password)
    c.set_domain(domain)
    c.set_workstation("PWFSCLIENT")
    c.set_kerberos_state(credentials.DONT_USE_KERBEROS)
    return c


def smb_connect(o):
    return libsmb.Conn(o["vip"], o["share"], smb_lp, creds(o["user"], o["password"], o["domain"]))


def tcp_ready(host, timeout):
    """A TCP connection to host:445 within `timeout` seconds (the SMB client's own connect waits far longer)."""
    try:
        socket.create_connection((host, 445), timeout=timeout).close()
        return True
    except OSError:
        return False


def reconnect_and_read(o, deadline):
    """New connections to the floating IP until one works, then the file read back on it."""
    tries = 0
    last = None
    while time.time() < deadline:
        tries += 1
        if not tcp_ready(o["vip"], 0.5):
            continue
        try:
            c = smb_connect(o)
            emit("reconnected", tries=tries)
            data = c.loadfile(o["file"]).decode()
            emit("read_back", match=data == o["data"], size=len(data))
            return True
        except (NTSTATUSError, RuntimeError) as e:
            last = str(e)
            time.sleep(0.05)
    emit("gave_up", tries=tries, error=last)
    return False


def vip_state(w, vip):
    """The floating IP's state in the witness's interface list (1 AVAILABLE, 0xFF UNAVAILABLE, None: not listed)."""
    for i in w.GetInterfaceList().interfaces:
        if i.ipv4 == vip:
            return i.state
    return None


def run_witness(o, deadline):
    c = smb_connect(o)
    c.savefile(o["file"], o["data"].encode())
    emit("written")
    binding = "ncacn_ip_tcp:%s[%s,%s]" % (o["witness_host"], o.get("witness_port", 5999), o.get("auth", "sign"))
    w = witness.witness(binding, lp, creds(o["witness_user"], o["witness_password"], o["witness_domain"]))

    def register():
        return w.RegisterEx(V2, o.get("net", "FILESRV"), o.get("share_name"), o["vip"], o["client"], 0, 120)

    h = register()
    emit("registered", binding=binding)
    down = False
    while time.time() < deadline:
        try:
            r = w.AsyncNotify(h)
        except WERRORError as e:
            if e.args[0] == ERROR_TIMEOUT:  # the keep-alive: ask again
                continue
            if e.args[0] != ERROR_NOT_FOUND:
                raise
            # The witness forgets a registration 5 s after UNAVAILABLE (as Samba's does, so that
            # Windows registers afresh); a Windows client then unregisters, lists the interfaces
            # and registers again, and so does this one.
            emit("forgotten")
            try:
                w.UnRegister(h)
            except WERRORError:
                pass
            h = register()
            state = vip_state(w, o["vip"])
            emit("registered_again", vip_state=state)
            if down and state == AVAILABLE:
                break
            continue
        changes = [{"name": m.name, "change": m.type} for m in r.messages] if r.type == witness.WITNESS_NOTIFY_RESOURCE_CHANGE else []
        emit("notified", type=r.type, changes=changes)
        if any(x["change"] == UNAVAILABLE for x in changes):
            # The server behind the name is going away: give its connection up now rather than
            # wait for TCP to say so. Reconnecting at once could still reach the old node (the IP
            # is reported when its stop begins), so the client waits for AVAILABLE.
            down = True
            c = None
        elif down and any(x["change"] == AVAILABLE for x in changes):
            break
    ok = reconnect_and_read(o, deadline)
    try:
        w.UnRegister(h)
        emit("unregistered")
    except (WERRORError, NTSTATUSError, RuntimeError) as e:
        emit("unregister_refused", error=str(e))
    return ok


def run_plain(o, deadline):
    c = smb_connect(o)
    if o.get("smb_timeout_ms"):
        # Samba's client gives a request 20 s; Windows' SessTimeout is 60 s. A longer one leaves
        # the failure to TCP (retransmissions answered by a reset once the IP is back, or a tickle).
        c.settimeout(o["smb_timeout_ms"])
    c.savefile(o["file"], o["data"].encode())
    emit("written")
    reads = 0
    last_ok = time.time()
    while time.time() < deadline:
        try:
            c.loadfile(o["file"])
            reads += 1
            last_ok = time.time()
        except (NTSTATUSError, RuntimeError) as e:
            emit("failed", reads=reads, error=str(e), last_ok=last_ok)
            return reconnect_and_read(o, deadline)
        time.sleep(o.get("interval", 0.1))
    emit("no_failure", reads=reads)
    return False


def run_once(o):
    c = smb_connect(o)
    c.savefile(o["file"], o["data"].encode())
    emit("written")
    data = c.loadfile(o["file"]).decode()
    emit("read_back", match=data == o["data"], size=len(data))
    return data == o["data"]


def main():
    o = json.load(sys.stdin)
    deadline = time.time() + o.get("deadline", 120)
    try:
        ok = {"once": lambda: run_once(o), "witness": lambda: run_witness(o, deadline), "plain": lambda: run_plain(o, deadline)}[o["mode"]]()
    except (NTSTATUSError, WERRORError, RuntimeError) as e:
        emit("error", error=str(e))
        ok = False
    sys.exit(0 if ok else 1)


main()
