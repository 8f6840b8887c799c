// gss.node: the few GSS-API calls witnessd's Kerberos acceptor needs, over MIT Kerberos
// (RFC 2743/2744 C bindings, RFC 4121 tokens; DCE style and IOV from MIT's gssapi_ext.h).
//
// Everything here is synchronous and CPU-bound, except the keytab and replay-cache file reads
// inside accept (local files): service/auth/krb5/ measures that and decides. Handles are N-API
// externals with finalizers; release() frees a context at once. Failures throw an Error carrying
// `major` and `minor` (the mechanism's com_err code, e.g. KRB5KRB_AP_ERR_SKEW) so the caller can
// say what went wrong; the message is gss_display_status's text for both.
#define NAPI_VERSION 8
#include <node_api.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5/krb5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "gss.node: N-API call failed: " #call); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static napi_status set_int(napi_env env, napi_value obj, const char *name, int64_t v);

typedef struct {
  gss_cred_id_t cred;
} Cred;

typedef struct {
  gss_ctx_id_t ctx;
  gss_name_t peer; // the initiator's name, once the acceptor context is complete
} Ctx;

static void release_ctx(Ctx *c) {
  OM_uint32 minor;
  if (c->ctx != GSS_C_NO_CONTEXT) gss_delete_sec_context(&minor, &c->ctx, GSS_C_NO_BUFFER);
  if (c->peer != GSS_C_NO_NAME) gss_release_name(&minor, &c->peer);
  c->ctx = GSS_C_NO_CONTEXT;
  c->peer = GSS_C_NO_NAME;
}

// What one context costs outside V8's heap (MIT keeps a krb5 context, keys and sequence state per
// GSS context: 8.1 KiB of RSS each, measured by bench/krb5-storm.ts), told to V8 so that garbage collection runs when
// many dropped connections hold contexts only the finalizer would free.
#define CTX_EXTERNAL_BYTES (8 * 1024)

static void finalize_ctx(napi_env env, void *data, void *hint) {
  (void)hint;
  int64_t ignored;
  release_ctx((Ctx *)data);
  free(data);
  napi_adjust_external_memory(env, -CTX_EXTERNAL_BYTES, &ignored);
}

static void finalize_cred(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  OM_uint32 minor;
  Cred *c = data;
  if (c->cred != GSS_C_NO_CREDENTIAL) gss_release_cred(&minor, &c->cred);
  free(c);
}

// Appends gss_display_status's messages for one status value (of `type`) to buf.
static void append_status(char *buf, size_t size, OM_uint32 value, int type) {
  OM_uint32 minor, more = 0;
  do {
    gss_buffer_desc msg = GSS_C_EMPTY_BUFFER;
    if (GSS_ERROR(gss_display_status(&minor, value, type, (gss_OID)gss_mech_krb5, &more, &msg))) break;
    size_t used = strlen(buf);
    if (used + 3 < size) {
      if (used > 0) strcat(buf, "; ");
      used = strlen(buf);
      size_t n = msg.length < size - used - 1 ? msg.length : size - used - 1;
      memcpy(buf + used, msg.value, n);
      buf[used + n] = 0;
    }
    gss_release_buffer(&minor, &msg);
  } while (more != 0);
}

// Throws an Error for a failed GSS call: message, major, minor.
static void *throw_gss(napi_env env, const char *what, OM_uint32 major, OM_uint32 minor) {
  char text[1024];
  snprintf(text, sizeof text, "%s: ", what);
  char detail[900] = "";
  append_status(detail, sizeof detail, major, GSS_C_GSS_CODE);
  if (minor != 0) append_status(detail, sizeof detail, minor, GSS_C_MECH_CODE);
  strncat(text, detail, sizeof text - strlen(text) - 1);
  napi_value msg, err, vmaj, vmin;
  if (napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg) != napi_ok) return NULL;
  if (napi_create_error(env, NULL, msg, &err) != napi_ok) return NULL;
  napi_create_uint32(env, major, &vmaj);
  // com_err codes are negative 32-bit values (e.g. KRB5KRB_AP_ERR_SKEW = -1765328347).
  napi_create_int32(env, (int32_t)minor, &vmin);
  napi_set_named_property(env, err, "major", vmaj);
  napi_set_named_property(env, err, "minor", vmin);
  napi_throw(env, err);
  return NULL;
}

static Ctx *get_ctx(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "gss.node: not a context handle");
    return NULL;
  }
  return data;
}

static int get_buffer(napi_env env, napi_value v, void **data, size_t *len) {
  bool is;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is) {
    napi_throw_type_error(env, NULL, "gss.node: a Buffer is needed");
    return 0;
  }
  return napi_get_buffer_info(env, v, data, len) == napi_ok;
}

static napi_value make_buffer(napi_env env, const void *data, size_t len) {
  napi_value out;
  if (napi_create_buffer_copy(env, len, data, NULL, &out) != napi_ok) return NULL;
  return out;
}

static int get_u32(napi_env env, napi_value v, uint32_t *out) {
  if (napi_get_value_uint32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "gss.node: a number is needed");
    return 0;
  }
  return 1;
}

// acquire(keytab: string): acceptor credentials for every principal in the keytab (no name is
// fixed: whatever service the ticket names is looked up there, so cifs/ and host/ forms of each
// NetName are all accepted when their keys are present).
static napi_value acquire(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[4096];
  size_t n;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &n) != napi_ok || n >= sizeof path - 1) {
    napi_throw_type_error(env, NULL, "gss.node: acquire(keytab path)");
    return NULL;
  }
  gss_key_value_element_desc el = {"keytab", path};
  gss_key_value_set_desc store = {1, &el};
  gss_OID_set_desc mechs = {1, (gss_OID)gss_mech_krb5};
  OM_uint32 minor;
  gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
  OM_uint32 major = gss_acquire_cred_from(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &mechs, GSS_C_ACCEPT, &store, &cred, NULL, NULL);
  if (GSS_ERROR(major)) return throw_gss(env, "gss_acquire_cred_from", major, minor);
  Cred *c = calloc(1, sizeof *c);
  if (!c) {
    gss_release_cred(&minor, &cred);
    napi_throw_error(env, NULL, "gss.node: out of memory");
    return NULL;
  }
  c->cred = cred;
  napi_value out;
  CHECK(napi_create_external(env, c, finalize_cred, NULL, &out));
  return out;
}

static napi_value result_object(napi_env env, napi_value handle, gss_buffer_t token, int complete, OM_uint32 flags) {
  napi_value out, tok, done, vflags;
  CHECK(napi_create_object(env, &out));
  if (token->length > 0) {
    tok = make_buffer(env, token->value, token->length);
    if (!tok) return NULL;
  } else {
    CHECK(napi_get_null(env, &tok));
  }
  CHECK(napi_get_boolean(env, complete, &done));
  CHECK(napi_create_uint32(env, flags, &vflags));
  CHECK(napi_set_named_property(env, out, "ctx", handle));
  CHECK(napi_set_named_property(env, out, "token", tok));
  CHECK(napi_set_named_property(env, out, "complete", done));
  CHECK(napi_set_named_property(env, out, "flags", vflags));
  return out;
}

// Makes a fresh context handle, or returns the one passed (argument `v`, undefined or null for new).
static napi_value ctx_handle(napi_env env, napi_value v, Ctx **out) {
  napi_valuetype t;
  CHECK(napi_typeof(env, v, &t));
  if (t == napi_external) {
    *out = get_ctx(env, v);
    return *out ? v : NULL;
  }
  Ctx *c = calloc(1, sizeof *c);
  if (!c) {
    napi_throw_error(env, NULL, "gss.node: out of memory");
    return NULL;
  }
  napi_value h;
  if (napi_create_external(env, c, finalize_ctx, NULL, &h) != napi_ok) {
    free(c);
    napi_throw_error(env, NULL, "gss.node: napi_create_external failed");
    return NULL;
  }
  int64_t ignored;
  napi_adjust_external_memory(env, CTX_EXTERNAL_BYTES, &ignored);
  *out = c;
  return h;
}

// accept(cred, ctx | null, token): one gss_accept_sec_context step. Returns {ctx, token, complete,
// flags}; the client's name is available from peerName(ctx) once complete. On failure the context
// is deleted and an Error with major/minor is thrown.
static napi_value accept(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "gss.node: accept(cred, ctx, token)");
    return NULL;
  }
  void *cp = NULL;
  if (napi_get_value_external(env, argv[0], &cp) != napi_ok || cp == NULL) {
    napi_throw_type_error(env, NULL, "gss.node: not a credential handle");
    return NULL;
  }
  Cred *cred = cp;
  Ctx *c = NULL;
  napi_value handle = ctx_handle(env, argv[1], &c);
  if (!handle) return NULL;
  void *data;
  size_t len;
  if (!get_buffer(env, argv[2], &data, &len)) return NULL;
  gss_buffer_desc in = {len, data};
  gss_buffer_desc outtok = GSS_C_EMPTY_BUFFER;
  OM_uint32 minor, minor2, flags = 0;
  gss_name_t src = GSS_C_NO_NAME;
  OM_uint32 major = gss_accept_sec_context(&minor, &c->ctx, cred->cred, &in, GSS_C_NO_CHANNEL_BINDINGS, &src, NULL, &outtok, &flags, NULL, NULL);
  if (GSS_ERROR(major)) {
    gss_release_buffer(&minor2, &outtok);
    if (src != GSS_C_NO_NAME) gss_release_name(&minor2, &src);
    release_ctx(c);
    return throw_gss(env, "gss_accept_sec_context", major, minor);
  }
  int complete = (major & GSS_S_CONTINUE_NEEDED) == 0;
  if (complete && src != GSS_C_NO_NAME) {
    if (c->peer != GSS_C_NO_NAME) gss_release_name(&minor2, &c->peer);
    c->peer = src;
  } else if (src != GSS_C_NO_NAME) {
    gss_release_name(&minor2, &src);
  }
  napi_value out = result_object(env, handle, &outtok, complete, flags);
  gss_release_buffer(&minor2, &outtok);
  return out;
}

// init(target principal, ctx | null, token | null, flags): the initiator's side, from the default
// credential cache (KRB5CCNAME). Only for tests and benchmarks: witnessd never initiates.
static napi_value init(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "gss.node: init(target, ctx, token, flags)");
    return NULL;
  }
  char target[1024];
  size_t n;
  if (napi_get_value_string_utf8(env, argv[0], target, sizeof target, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "gss.node: init: target must be a string");
    return NULL;
  }
  Ctx *c = NULL;
  napi_value handle = ctx_handle(env, argv[1], &c);
  if (!handle) return NULL;
  gss_buffer_desc in = GSS_C_EMPTY_BUFFER;
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[2], &t));
  if (t == napi_object) {
    void *data;
    size_t len;
    if (!get_buffer(env, argv[2], &data, &len)) return NULL;
    in.value = data;
    in.length = len;
  }
  uint32_t req;
  if (!get_u32(env, argv[3], &req)) return NULL;
  OM_uint32 minor, minor2, flags = 0;
  gss_buffer_desc name_buf = {n, target};
  gss_name_t name = GSS_C_NO_NAME;
  OM_uint32 major = gss_import_name(&minor, &name_buf, (gss_OID)GSS_KRB5_NT_PRINCIPAL_NAME, &name);
  if (GSS_ERROR(major)) return throw_gss(env, "gss_import_name", major, minor);
  gss_buffer_desc outtok = GSS_C_EMPTY_BUFFER;
  major = gss_init_sec_context(&minor, GSS_C_NO_CREDENTIAL, &c->ctx, name, (gss_OID)gss_mech_krb5, req, GSS_C_INDEFINITE, GSS_C_NO_CHANNEL_BINDINGS, in.length ? &in : GSS_C_NO_BUFFER, NULL, &outtok, &flags, NULL);
  gss_release_name(&minor2, &name);
  if (GSS_ERROR(major)) {
    gss_release_buffer(&minor2, &outtok);
    release_ctx(c);
    return throw_gss(env, "gss_init_sec_context", major, minor);
  }
  napi_value out = result_object(env, handle, &outtok, (major & GSS_S_CONTINUE_NEEDED) == 0, flags);
  gss_release_buffer(&minor2, &outtok);
  return out;
}

// peerName(ctx): the initiator's principal as text ("user@REALM"), once the context is complete.
static napi_value peer_name(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Ctx *c = argc ? get_ctx(env, argv[0]) : NULL;
  if (!c) return NULL;
  napi_value out;
  if (c->peer == GSS_C_NO_NAME) {
    CHECK(napi_get_null(env, &out));
    return out;
  }
  OM_uint32 minor, minor2;
  gss_buffer_desc text = GSS_C_EMPTY_BUFFER;
  OM_uint32 major = gss_display_name(&minor, c->peer, &text, NULL);
  if (GSS_ERROR(major)) return throw_gss(env, "gss_display_name", major, minor);
  napi_status st = napi_create_string_utf8(env, text.value, text.length, &out);
  gss_release_buffer(&minor2, &text);
  CHECK(st);
  return out;
}

// peerAttribute(ctx, name): the raw value of a name attribute of the initiator (RFC 6680), e.g.
// "urn:mspac:logon-info" (the PAC's KERB_VALIDATION_INFO, NDR). null when absent.
static napi_value peer_attribute(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Ctx *c = argc >= 2 ? get_ctx(env, argv[0]) : NULL;
  if (!c) return NULL;
  char attr[256];
  size_t n;
  if (napi_get_value_string_utf8(env, argv[1], attr, sizeof attr, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "gss.node: peerAttribute(ctx, name)");
    return NULL;
  }
  napi_value out;
  CHECK(napi_get_null(env, &out));
  if (c->peer == GSS_C_NO_NAME) return out;
  gss_buffer_desc attr_buf = {n, attr};
  gss_buffer_desc value = GSS_C_EMPTY_BUFFER;
  int authenticated = 0, complete = 0, more = -1;
  OM_uint32 minor, minor2;
  OM_uint32 major = gss_get_name_attribute(&minor, c->peer, &attr_buf, &authenticated, &complete, &value, NULL, &more);
  if (major == GSS_S_UNAVAILABLE || GSS_ERROR(major)) return out;
  // An attribute the KDC did not sign is worth nothing for authorization.
  if (authenticated) out = make_buffer(env, value.value, value.length);
  gss_release_buffer(&minor2, &value);
  return out;
}

// sizes(ctx, dataLength): {mic, wrap}: the MIC token's length and a DCE-style wrap token's
// (header only: no PADDING or TRAILER buffer, the trailer rotated into the header), without
// using up a sequence number.
static napi_value sizes(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Ctx *c = argc >= 2 ? get_ctx(env, argv[0]) : NULL;
  if (!c) return NULL;
  uint32_t len;
  if (!get_u32(env, argv[1], &len)) return NULL;
  OM_uint32 minor;
  gss_iov_buffer_desc wrap[2] = {{GSS_IOV_BUFFER_TYPE_HEADER, GSS_C_EMPTY_BUFFER}, {GSS_IOV_BUFFER_TYPE_DATA, {len, NULL}}};
  OM_uint32 major = gss_wrap_iov_length(&minor, c->ctx, 1, GSS_C_QOP_DEFAULT, NULL, wrap, 2);
  if (GSS_ERROR(major)) return throw_gss(env, "gss_wrap_iov_length", major, minor);
  gss_iov_buffer_desc mic[2] = {{GSS_IOV_BUFFER_TYPE_DATA, {len, NULL}}, {GSS_IOV_BUFFER_TYPE_MIC_TOKEN, GSS_C_EMPTY_BUFFER}};
  major = gss_get_mic_iov_length(&minor, c->ctx, GSS_C_QOP_DEFAULT, mic, 2);
  if (GSS_ERROR(major)) return throw_gss(env, "gss_get_mic_iov_length", major, minor);
  napi_value out, vw, vm;
  CHECK(napi_create_object(env, &out));
  CHECK(napi_create_uint32(env, (uint32_t)wrap[0].buffer.length, &vw));
  CHECK(napi_create_uint32(env, (uint32_t)mic[1].buffer.length, &vm));
  CHECK(napi_set_named_property(env, out, "wrap", vw));
  CHECK(napi_set_named_property(env, out, "mic", vm));
  return out;
}

// getMic(ctx, data) → token.
static napi_value get_mic(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Ctx *c = argc >= 2 ? get_ctx(env, argv[0]) : NULL;
  if (!c) return NULL;
  void *data;
  size_t len;
  if (!get_buffer(env, argv[1], &data, &len)) return NULL;
  gss_buffer_desc msg = {len, data}, tok = GSS_C_EMPTY_BUFFER;
  OM_uint32 minor, minor2;
  OM_uint32 major = gss_get_mic(&minor, c->ctx, GSS_C_QOP_DEFAULT, &msg, &tok);
  if (GSS_ERROR(major)) return throw_gss(env, "gss_get_mic", major, minor);
  napi_value out = make_buffer(env, tok.value, tok.length);
  gss_release_buffer(&minor2, &tok);
  return out;
}

// verifyMic(ctx, data, token): throws when the token does not verify (or is a replay, out of order).
static napi_value verify_mic(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Ctx *c = argc >= 3 ? get_ctx(env, argv[0]) : NULL;
  if (!c) return NULL;
  void *data, *sig;
  size_t len, slen;
  if (!get_buffer(env, argv[1], &data, &len) || !get_buffer(env, argv[2], &sig, &slen)) return NULL;
  gss_buffer_desc msg = {len, data}, tok = {slen, sig};
  OM_uint32 minor;
  gss_qop_t qop;
  OM_uint32 major = gss_verify_mic(&minor, c->ctx, &msg, &tok, &qop);
  // Supplementary bits (duplicate, old, unseq, gap) are not errors to GSS; to DCE/RPC, whose
  // PDUs on one connection arrive exactly in order, each is a refusal.
  if (major != GSS_S_COMPLETE) return throw_gss(env, "gss_verify_mic", major, minor);
  return NULL;
}

// The IOV list for DCE/RPC protection: HEADER (the signature), then message[0,start) SIGN_ONLY,
// message[start,end) DATA (encrypted in place), message[end,len) SIGN_ONLY; empty parts left out.
static int build_iov(gss_iov_buffer_desc *iov, unsigned char *msg, size_t len, uint32_t start, uint32_t end) {
  int n = 1;
  if (start > 0) iov[n++] = (gss_iov_buffer_desc){GSS_IOV_BUFFER_TYPE_SIGN_ONLY, {start, msg}};
  iov[n++] = (gss_iov_buffer_desc){GSS_IOV_BUFFER_TYPE_DATA, {end - start, msg + start}};
  if (end < len) iov[n++] = (gss_iov_buffer_desc){GSS_IOV_BUFFER_TYPE_SIGN_ONLY, {len - end, msg + end}};
  return n;
}

static int get_range(napi_env env, napi_value *argv, size_t len, uint32_t *start, uint32_t *end) {
  if (!get_u32(env, argv[0], start) || !get_u32(env, argv[1], end)) return 0;
  if (*start > *end || *end > len) {
    napi_throw_range_error(env, NULL, "gss.node: start/end outside the message");
    return 0;
  }
  return 1;
}

// wrap(ctx, message, start, end) → signature: seals message[start,end) in place (confidentiality
// required), the rest integrity-protected; the returned token is the IOV header.
static napi_value wrap(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Ctx *c = argc >= 4 ? get_ctx(env, argv[0]) : NULL;
  if (!c) return NULL;
  void *data;
  size_t len;
  uint32_t start, end;
  if (!get_buffer(env, argv[1], &data, &len) || !get_range(env, argv + 2, len, &start, &end)) return NULL;
  gss_iov_buffer_desc iov[4];
  iov[0] = (gss_iov_buffer_desc){GSS_IOV_BUFFER_TYPE_HEADER | GSS_IOV_BUFFER_FLAG_ALLOCATE, GSS_C_EMPTY_BUFFER};
  int n = build_iov(iov, data, len, start, end);
  OM_uint32 minor, minor2;
  int conf = 0;
  OM_uint32 major = gss_wrap_iov(&minor, c->ctx, 1, GSS_C_QOP_DEFAULT, &conf, iov, n);
  if (GSS_ERROR(major)) {
    gss_release_iov_buffer(&minor2, iov, n);
    return throw_gss(env, "gss_wrap_iov", major, minor);
  }
  napi_value out = conf ? make_buffer(env, iov[0].buffer.value, iov[0].buffer.length) : NULL;
  gss_release_iov_buffer(&minor2, iov, n);
  if (!conf) napi_throw_error(env, NULL, "gss_wrap_iov: confidentiality was not applied");
  return out;
}

// unwrap(ctx, message, start, end, signature): unseals message[start,end) in place and checks the
// signature over all of it; throws when it does not verify, was not sealed, or is out of sequence.
static napi_value unwrap(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Ctx *c = argc >= 5 ? get_ctx(env, argv[0]) : NULL;
  if (!c) return NULL;
  void *data, *sig;
  size_t len, slen;
  uint32_t start, end;
  if (!get_buffer(env, argv[1], &data, &len) || !get_range(env, argv + 2, len, &start, &end) || !get_buffer(env, argv[4], &sig, &slen)) return NULL;
  // The header is worked on in place by the library (RRC rotation): a copy keeps the caller's intact.
  void *hdr = malloc(slen ? slen : 1);
  if (!hdr) {
    napi_throw_error(env, NULL, "gss.node: out of memory");
    return NULL;
  }
  memcpy(hdr, sig, slen);
  gss_iov_buffer_desc iov[4];
  iov[0] = (gss_iov_buffer_desc){GSS_IOV_BUFFER_TYPE_HEADER, {slen, hdr}};
  int n = build_iov(iov, data, len, start, end);
  OM_uint32 minor;
  int conf = 0;
  gss_qop_t qop;
  OM_uint32 major = gss_unwrap_iov(&minor, c->ctx, &conf, &qop, iov, n);
  free(hdr);
  if (major != GSS_S_COMPLETE) return throw_gss(env, "gss_unwrap_iov", major, minor);
  if (!conf) napi_throw_error(env, NULL, "gss_unwrap_iov: the message was signed, not sealed");
  return NULL;
}

// ticketClient(keytab, ticket DER): who a refused ticket was issued to, for the log line only.
// GSS-API gives no name when gss_accept_sec_context fails, but for refusals after the ticket
// decrypted (expired, not yet valid, clock skew, replay) the client's name and the ticket's times
// are in its encrypted part: krb5_decode_ticket + krb5_server_decrypt_ticket_keytab (krb5.h) read
// them with the same keytab. Returns {client, authtime, starttime, endtime} (seconds), or null when
// the ticket does not decode or decrypt. One krb5 context for the process, made on first use.
static krb5_context ticket_krb5 = NULL;

static napi_value ticket_client(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[4096 + 6];
  size_t n;
  strcpy(path, "FILE:");
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], path + 5, sizeof path - 5, &n) != napi_ok || n >= sizeof path - 6) {
    napi_throw_type_error(env, NULL, "gss.node: ticketClient(keytab path, ticket)");
    return NULL;
  }
  void *data;
  size_t len;
  if (!get_buffer(env, argv[1], &data, &len)) return NULL;
  napi_value out;
  CHECK(napi_get_null(env, &out));
  if (ticket_krb5 == NULL && krb5_init_context(&ticket_krb5) != 0) {
    ticket_krb5 = NULL;
    return out;
  }
  krb5_keytab kt = NULL;
  krb5_ticket *tkt = NULL;
  char *client = NULL;
  krb5_data der = {0, (unsigned int)len, data};
  if (len > 0xffff || krb5_kt_resolve(ticket_krb5, path, &kt) != 0) goto done;
  if (krb5_decode_ticket(&der, &tkt) != 0) goto done;
  if (krb5_server_decrypt_ticket_keytab(ticket_krb5, kt, tkt) != 0 || tkt->enc_part2 == NULL) goto done;
  if (krb5_unparse_name(ticket_krb5, tkt->enc_part2->client, &client) != 0) goto done;
  napi_value name;
  if (napi_create_object(env, &out) != napi_ok || napi_create_string_utf8(env, client, NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_set_named_property(env, out, "client", name) != napi_ok) {
    napi_get_null(env, &out);
    goto done;
  }
  // krb5_timestamp is a signed 32-bit value that MIT reads as unsigned (dates past 2038).
  set_int(env, out, "authtime", (uint32_t)tkt->enc_part2->times.authtime);
  set_int(env, out, "starttime", (uint32_t)tkt->enc_part2->times.starttime);
  set_int(env, out, "endtime", (uint32_t)tkt->enc_part2->times.endtime);
done:
  if (client) krb5_free_unparsed_name(ticket_krb5, client);
  if (tkt) krb5_free_ticket(ticket_krb5, tkt);
  if (kt) krb5_kt_close(ticket_krb5, kt);
  return out;
}

// release(ctx): deletes the context now (the finalizer would, later).
static napi_value release(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Ctx *c = argc ? get_ctx(env, argv[0]) : NULL;
  if (c) release_ctx(c);
  return NULL;
}

static napi_status set_int(napi_env env, napi_value obj, const char *name, int64_t v) {
  napi_value val;
  napi_status st = napi_create_int64(env, v, &val);
  return st == napi_ok ? napi_set_named_property(env, obj, name, val) : st;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor fns[] = {
      {"acquire", NULL, acquire, NULL, NULL, NULL, napi_default, NULL},
      {"accept", NULL, accept, NULL, NULL, NULL, napi_default, NULL},
      {"init", NULL, init, NULL, NULL, NULL, napi_default, NULL},
      {"peerName", NULL, peer_name, NULL, NULL, NULL, napi_default, NULL},
      {"peerAttribute", NULL, peer_attribute, NULL, NULL, NULL, napi_default, NULL},
      {"sizes", NULL, sizes, NULL, NULL, NULL, napi_default, NULL},
      {"getMic", NULL, get_mic, NULL, NULL, NULL, napi_default, NULL},
      {"verifyMic", NULL, verify_mic, NULL, NULL, NULL, napi_default, NULL},
      {"wrap", NULL, wrap, NULL, NULL, NULL, napi_default, NULL},
      {"unwrap", NULL, unwrap, NULL, NULL, NULL, napi_default, NULL},
      {"release", NULL, release, NULL, NULL, NULL, napi_default, NULL},
      {"ticketClient", NULL, ticket_client, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) != napi_ok) return NULL;
  // The constants the TypeScript side maps errors and flags with, from the headers themselves.
  napi_value codes, flags;
  if (napi_create_object(env, &codes) != napi_ok || napi_create_object(env, &flags) != napi_ok) return NULL;
  set_int(env, codes, "AP_ERR_TKT_EXPIRED", KRB5KRB_AP_ERR_TKT_EXPIRED);
  set_int(env, codes, "AP_ERR_TKT_NYV", KRB5KRB_AP_ERR_TKT_NYV);
  set_int(env, codes, "AP_ERR_REPEAT", KRB5KRB_AP_ERR_REPEAT);
  set_int(env, codes, "AP_ERR_NOT_US", KRB5KRB_AP_ERR_NOT_US);
  set_int(env, codes, "AP_ERR_SKEW", KRB5KRB_AP_ERR_SKEW);
  set_int(env, codes, "AP_ERR_MODIFIED", KRB5KRB_AP_ERR_MODIFIED);
  set_int(env, codes, "AP_ERR_BAD_INTEGRITY", KRB5KRB_AP_ERR_BAD_INTEGRITY);
  set_int(env, codes, "AP_ERR_BADKEYVER", KRB5KRB_AP_ERR_BADKEYVER);
  set_int(env, codes, "AP_ERR_NOKEY", KRB5KRB_AP_ERR_NOKEY);
  set_int(env, codes, "AP_WRONG_PRINC", KRB5KRB_AP_WRONG_PRINC);
  set_int(env, codes, "KT_NOTFOUND", KRB5_KT_NOTFOUND);
  set_int(env, codes, "KT_KVNONOTFOUND", KRB5_KT_KVNONOTFOUND);
  set_int(env, codes, "KT_END", KRB5_KT_END);
  set_int(env, codes, "S_DEFECTIVE_TOKEN", GSS_S_DEFECTIVE_TOKEN);
  set_int(env, codes, "S_BAD_MECH", GSS_S_BAD_MECH);
  set_int(env, codes, "S_BAD_SIG", GSS_S_BAD_SIG);
  set_int(env, codes, "S_DUPLICATE_TOKEN", GSS_S_DUPLICATE_TOKEN);
  set_int(env, codes, "S_CREDENTIALS_EXPIRED", GSS_S_CREDENTIALS_EXPIRED);
  set_int(env, codes, "S_NO_CRED", GSS_S_NO_CRED);
  set_int(env, flags, "DELEG", GSS_C_DELEG_FLAG);
  set_int(env, flags, "MUTUAL", GSS_C_MUTUAL_FLAG);
  set_int(env, flags, "REPLAY", GSS_C_REPLAY_FLAG);
  set_int(env, flags, "SEQUENCE", GSS_C_SEQUENCE_FLAG);
  set_int(env, flags, "CONF", GSS_C_CONF_FLAG);
  set_int(env, flags, "INTEG", GSS_C_INTEG_FLAG);
  set_int(env, flags, "DCE_STYLE", GSS_C_DCE_STYLE);
  napi_set_named_property(env, exports, "codes", codes);
  napi_set_named_property(env, exports, "flags", flags);
  return exports;
}
