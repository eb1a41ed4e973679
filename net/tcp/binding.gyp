{
  "targets": [
    {
      "target_name": "bollard_tcp",
      "sources": ["tcp.c"],
      "cflags": ["-Wall", "-Wextra", "-O2", "-std=gnu11"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
