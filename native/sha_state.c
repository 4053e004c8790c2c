// Resumable SHA-256 and SHA-512 for blob uploads: OpenSSL's one-shot context structs, kept by the
// caller in a Buffer so that their bytes can be saved (blob_upload.hash_state) and resumed by any
// process of the same build. The hashing itself is Node's own OpenSSL (its SHA256_* and SHA512_*
// symbols, which Node exports to addons), so it runs at the speed of crypto.createHash (SHA-NI).
//
// Exports, all synchronous; `alg` is 256 or 512, `ctx` a Buffer of ctxSize(alg) bytes:
//   ctxSize(alg) -> number        init(alg, ctx)            update(alg, ctx, data)
//   digest(alg, ctx) -> Buffer    (on a copy: ctx is unchanged, hashing may go on)
//   check(alg, ctx) -> boolean    (whether ctx is a context this build can resume safely)
// A context is validated before every use: bytes read from the database must never make OpenSSL
// index outside its block buffer.
#include <node_api.h>
#include <openssl/sha.h>
#include <string.h>

#define THROW(env, msg)                          \
  do {                                           \
    napi_throw_type_error((env), NULL, (msg));   \
    return NULL;                                 \
  } while (0)

static int alg_of(napi_env env, napi_value v) {
  int32_t alg = 0;
  if (napi_get_value_int32(env, v, &alg) != napi_ok) return 0;
  return alg == 256 || alg == 512 ? alg : 0;
}

static size_t ctx_size(int alg) { return alg == 256 ? sizeof(SHA256_CTX) : sizeof(SHA512_CTX); }

// Copies the caller's bytes into an aligned context and checks the fields OpenSSL trusts.
static int load(int alg, const void* bytes, size_t len, void* out) {
  if (len != ctx_size(alg)) return 0;
  memcpy(out, bytes, len);
  if (alg == 256) {
    const SHA256_CTX* c = (const SHA256_CTX*)out;
    return c->num < SHA256_CBLOCK && c->md_len == SHA256_DIGEST_LENGTH;
  }
  const SHA512_CTX* c = (const SHA512_CTX*)out;
  return c->num < SHA512_CBLOCK && c->md_len == SHA512_DIGEST_LENGTH;
}

static int get_buffer(napi_env env, napi_value v, void** data, size_t* len) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, len, data, &ab, &offset) != napi_ok) return 0;
  return type == napi_uint8_array;
}

typedef union {
  SHA256_CTX s256;
  SHA512_CTX s512;
} any_ctx;

static napi_value ctx_size_fn(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int alg = argc == 1 ? alg_of(env, argv[0]) : 0;
  if (!alg) THROW(env, "alg must be 256 or 512");
  napi_create_uint32(env, (uint32_t)ctx_size(alg), &out);
  return out;
}

static napi_value init_fn(napi_env env, napi_callback_info info) {
  size_t argc = 2, len;
  napi_value argv[2];
  void* ctx;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int alg = argc == 2 ? alg_of(env, argv[0]) : 0;
  if (!alg) THROW(env, "alg must be 256 or 512");
  if (!get_buffer(env, argv[1], &ctx, &len) || len != ctx_size(alg)) THROW(env, "ctx must be a Uint8Array of ctxSize(alg) bytes");
  any_ctx c;
  memset(&c, 0, sizeof c);
  if (alg == 256) SHA256_Init(&c.s256);
  else SHA512_Init(&c.s512);
  memcpy(ctx, &c, len);
  return NULL;
}

static napi_value update_fn(napi_env env, napi_callback_info info) {
  size_t argc = 3, len, dlen;
  napi_value argv[3];
  void *ctx, *data;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int alg = argc == 3 ? alg_of(env, argv[0]) : 0;
  if (!alg) THROW(env, "alg must be 256 or 512");
  if (!get_buffer(env, argv[1], &ctx, &len)) THROW(env, "ctx must be a Uint8Array");
  if (!get_buffer(env, argv[2], &data, &dlen)) THROW(env, "data must be a Uint8Array");
  any_ctx c;
  if (!load(alg, ctx, len, &c)) THROW(env, "not a hash context of this build");
  if (dlen > 0) {
    if (alg == 256) SHA256_Update(&c.s256, data, dlen);
    else SHA512_Update(&c.s512, data, dlen);
  }
  memcpy(ctx, &c, len);
  return NULL;
}

static napi_value digest_fn(napi_env env, napi_callback_info info) {
  size_t argc = 2, len;
  napi_value argv[2], out;
  void *ctx, *md;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int alg = argc == 2 ? alg_of(env, argv[0]) : 0;
  if (!alg) THROW(env, "alg must be 256 or 512");
  if (!get_buffer(env, argv[1], &ctx, &len)) THROW(env, "ctx must be a Uint8Array");
  any_ctx c;
  if (!load(alg, ctx, len, &c)) THROW(env, "not a hash context of this build");
  size_t mdlen = alg == 256 ? SHA256_DIGEST_LENGTH : SHA512_DIGEST_LENGTH;
  if (napi_create_buffer(env, mdlen, &md, &out) != napi_ok) return NULL;
  if (alg == 256) SHA256_Final(md, &c.s256);
  else SHA512_Final(md, &c.s512);
  return out;
}

static napi_value check_fn(napi_env env, napi_callback_info info) {
  size_t argc = 2, len;
  napi_value argv[2], out;
  void* ctx;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int alg = argc == 2 ? alg_of(env, argv[0]) : 0;
  if (!alg) THROW(env, "alg must be 256 or 512");
  any_ctx c;
  int ok = get_buffer(env, argv[1], &ctx, &len) && load(alg, ctx, len, &c);
  napi_get_boolean(env, ok, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"ctxSize", NULL, ctx_size_fn, NULL, NULL, NULL, napi_enumerable, NULL},
      {"init", NULL, init_fn, NULL, NULL, NULL, napi_enumerable, NULL},
      {"update", NULL, update_fn, NULL, NULL, NULL, napi_enumerable, NULL},
      {"digest", NULL, digest_fn, NULL, NULL, NULL, napi_enumerable, NULL},
      {"check", NULL, check_fn, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
