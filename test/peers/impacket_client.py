#!/usr/bin/python3
# impacket (python3-impacket) as an independent DCE/RPC peer: NTLMSSP (auth type 10) at packet
# integrity or privacy, impacket's own AUTH3 leg, signing and sealing. Binds the witness interface
# and calls GetInterfaceList (opnum 0, an empty [in] stub). Prints one JSON line.
#
# usage: impacket_client.py HOST PORT USER PASSWORD DOMAIN integrity|privacy [ntlmv1]
import json
import sys

from impacket import ntlm
from impacket.dcerpc.v5 import transport, rpcrt
from impacket.uuid import uuidtup_to_bin

host, port, user, password, domain, level = sys.argv[1:7]
if len(sys.argv) > 7 and sys.argv[7] == "ntlmv1":
    ntlm.USE_NTLMv2 = False  # an NTLMv1-only client: the server must refuse it

WITNESS = uuidtup_to_bin(("ccd8c074-d0e5-4a40-92b4-d074faa6ba28", "1.1"))
LEVELS = {"integrity": rpcrt.RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, "privacy": rpcrt.RPC_C_AUTHN_LEVEL_PKT_PRIVACY}

out = {"ok": False}
try:
    t = transport.DCERPCTransportFactory("ncacn_ip_tcp:%s[%s]" % (host, port))
    t.set_credentials(user, password, domain)
    dce = t.get_dce_rpc()
    dce.set_auth_type(rpcrt.RPC_C_AUTHN_WINNT)
    dce.set_auth_level(LEVELS[level])
    dce.connect()
    dce.bind(WITNESS)
    dce.call(0, b"")
    stub = dce.recv()
    out = {"ok": True, "stub": stub.hex()}
    dce.disconnect()
except rpcrt.DCERPCException as e:
    out = {"ok": False, "error": str(e), "code": getattr(e, "error_code", None)}
except Exception as e:  # report, never a traceback
    out = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
print(json.dumps(out), flush=True)
