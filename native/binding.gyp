{
  "targets": [
    {
      "target_name": "sha_state",
      "sources": ["sha_state.c"],
      "defines": ["OPENSSL_SUPPRESS_DEPRECATED", "NAPI_VERSION=8"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
