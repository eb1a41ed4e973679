// bollard_tcp: the socket options Node cannot set, for BGP (TCP) and BFD (UDP).
//
//  socket(family, kind, opts)   -> fd. family 4|6, kind "tcp"|"udp". A non-blocking socket with,
//                                  in this order: SO_REUSEADDR (opts.reuseAddr), IPV6_V6ONLY (v6),
//                                  SO_BINDTODEVICE (opts.device), IP_TTL / IPV6_UNICAST_HOPS
//                                  (opts.ttl), IP_MINTTL / IPV6_MINHOPCOUNT (opts.minTtl),
//                                  TCP_MD5SIG for each {address, password} of opts.md5, and
//                                  bind(opts.address, opts.port) when either is given.
//  connect(fd, address, port, timeoutMs) -> Promise<void>: the connect runs in a worker thread
//                                  (napi async work: non-blocking connect + poll + SO_ERROR).
//  listen(fd, backlog)          -> undefined.
//  setMd5(fd, family, peer, password) -> undefined; an empty password removes the key.
//  setTtl(fd, family, ttl) / setMinTtl(fd, family, minTtl) -> undefined.
//  close(fd)                    -> undefined (for fds never handed to Node).
//
// Errors are thrown (or rejected) as Error with `code` (errno name, e.g. "EPERM"), `errno`,
// `syscall` and `option` (which option failed). Passwords never appear in messages.
// Plain N-API C (node_api.h) so no dependency is needed to build it.
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IPV6_MINHOPCOUNT
#define IPV6_MINHOPCOUNT 73
#endif
#ifndef IP_MINTTL
#define IP_MINTTL 21
#endif

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, "EINTERNAL", "bollard_tcp: N-API failed"); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static napi_value make_error(napi_env env, int err, const char* syscall, const char* option) {
  char msg[256];
  const char* name = NULL;
  switch (err) {
    case EPERM: name = "EPERM"; break;
    case EACCES: name = "EACCES"; break;
    case EINVAL: name = "EINVAL"; break;
    case EADDRINUSE: name = "EADDRINUSE"; break;
    case EADDRNOTAVAIL: name = "EADDRNOTAVAIL"; break;
    case ECONNREFUSED: name = "ECONNREFUSED"; break;
    case ETIMEDOUT: name = "ETIMEDOUT"; break;
    case EHOSTUNREACH: name = "EHOSTUNREACH"; break;
    case ENETUNREACH: name = "ENETUNREACH"; break;
    case ENODEV: name = "ENODEV"; break;
    case ENOPROTOOPT: name = "ENOPROTOOPT"; break;
    case EBADF: name = "EBADF"; break;
    case ECONNRESET: name = "ECONNRESET"; break;
    case ECANCELED: name = "ECANCELED"; break;
    case EAFNOSUPPORT: name = "EAFNOSUPPORT"; break;
    default: name = "EUNKNOWN"; break;
  }
  snprintf(msg, sizeof msg, "%s%s%s: %s", syscall, option ? " " : "", option ? option : "", strerror(err));
  napi_value code, message, error, v;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, err, &v);
  napi_set_named_property(env, error, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "syscall", v);
  if (option) {
    napi_create_string_utf8(env, option, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, error, "option", v);
  }
  return error;
}

static void throw_errno(napi_env env, int err, const char* syscall, const char* option) {
  napi_throw(env, make_error(env, err, syscall, option));
}

static int get_int(napi_env env, napi_value v, int32_t* out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return -1;
  return napi_get_value_int32(env, v, out) == napi_ok ? 0 : -1;
}

// Reads a string into buf (NUL-terminated); -1 if not a string or too long.
static int get_str(napi_env env, napi_value v, char* buf, size_t cap, size_t* len) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return -1;
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok || n + 1 > cap) return -1;
  if (napi_get_value_string_utf8(env, v, buf, cap, &n) != napi_ok) return -1;
  if (len) *len = n;
  return 0;
}

static int prop(napi_env env, napi_value obj, const char* name, napi_value* out) {
  bool has = false;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return 0;
  if (napi_get_named_property(env, obj, name, out) != napi_ok) return 0;
  napi_valuetype t;
  napi_typeof(env, *out, &t);
  return t != napi_undefined && t != napi_null;
}

static int fill_addr(int family, const char* text, int port, struct sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof *ss);
  if (family == 4) {
    struct sockaddr_in* a = (struct sockaddr_in*)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, text, &a->sin_addr) != 1) return -1;
    *len = sizeof *a;
  } else {
    struct sockaddr_in6* a = (struct sockaddr_in6*)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    snprintf(buf, sizeof buf, "%s", text);
    char* pct = strchr(buf, '%');
    if (pct) {
      *pct = 0;
      a->sin6_scope_id = if_nametoindex(pct + 1);
      if (a->sin6_scope_id == 0) return -1;
    }
    if (inet_pton(AF_INET6, buf, &a->sin6_addr) != 1) return -1;
    *len = sizeof *a;
  }
  return 0;
}

static int set_md5(int fd, int family, const char* peer, const char* password, size_t plen) {
  struct tcp_md5sig sig;
  memset(&sig, 0, sizeof sig);
  socklen_t alen;
  if (fill_addr(family, peer, 0, (struct sockaddr_storage*)&sig.tcpm_addr, &alen) != 0) {
    errno = EINVAL;
    return -1;
  }
  if (plen > TCP_MD5SIG_MAXKEYLEN) {
    errno = EINVAL;
    return -1;
  }
  sig.tcpm_keylen = (uint16_t)plen;
  memcpy(sig.tcpm_key, password, plen);
  int r = setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &sig, sizeof sig);
  memset(&sig, 0, sizeof sig);
  return r;
}

static int set_ttl(int fd, int family, int ttl) {
  if (family == 4) return setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
  return setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof ttl);
}

static int set_minttl(int fd, int family, int ttl) {
  if (family == 4) return setsockopt(fd, IPPROTO_IP, IP_MINTTL, &ttl, sizeof ttl);
  return setsockopt(fd, IPPROTO_IPV6, IPV6_MINHOPCOUNT, &ttl, sizeof ttl);
}

static int get_family(napi_env env, napi_value v, int* family) {
  int32_t f;
  if (get_int(env, v, &f) != 0 || (f != 4 && f != 6)) return -1;
  *family = f;
  return 0;
}

// socket(family, kind, opts)
static napi_value Socket(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int family;
  char kind[8];
  if (argc < 3 || get_family(env, argv[0], &family) != 0 || get_str(env, argv[1], kind, sizeof kind, NULL) != 0) {
    napi_throw_type_error(env, "EINVAL", "socket(family: 4|6, kind: 'tcp'|'udp', opts)");
    return NULL;
  }
  int udp = strcmp(kind, "udp") == 0;
  int fd = socket(family == 4 ? AF_INET : AF_INET6, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, errno, "socket", NULL);
    return NULL;
  }
  napi_value opts = argv[2], v;
  int one = 1;
  const char* failed = NULL;
  const char* syscall = "setsockopt";
  int err = 0;
  char text[256];
  size_t n;
  int32_t num;
  bool b;
  if (prop(env, opts, "reuseAddr", &v) && napi_get_value_bool(env, v, &b) == napi_ok && b) {
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) { failed = "SO_REUSEADDR"; goto fail; }
  }
  if (family == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) { failed = "IPV6_V6ONLY"; goto fail; }
  if (prop(env, opts, "device", &v)) {
    if (get_str(env, v, text, IF_NAMESIZE, &n) != 0) { errno = EINVAL; failed = "SO_BINDTODEVICE"; goto fail; }
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, text, (socklen_t)n) != 0) { failed = "SO_BINDTODEVICE"; goto fail; }
  }
  if (prop(env, opts, "ttl", &v)) {
    if (get_int(env, v, &num) != 0 || num < 1 || num > 255) { errno = EINVAL; failed = "IP_TTL"; goto fail; }
    if (set_ttl(fd, family, num) != 0) { failed = family == 4 ? "IP_TTL" : "IPV6_UNICAST_HOPS"; goto fail; }
  }
  if (prop(env, opts, "minTtl", &v)) {
    if (get_int(env, v, &num) != 0 || num < 1 || num > 255) { errno = EINVAL; failed = "IP_MINTTL"; goto fail; }
    if (set_minttl(fd, family, num) != 0) { failed = family == 4 ? "IP_MINTTL" : "IPV6_MINHOPCOUNT"; goto fail; }
  }
  if (!udp && prop(env, opts, "md5", &v)) {
    uint32_t count = 0;
    napi_get_array_length(env, v, &count);
    for (uint32_t i = 0; i < count; i++) {
      napi_value e, a, p;
      char pw[TCP_MD5SIG_MAXKEYLEN + 2];
      size_t plen = 0;
      if (napi_get_element(env, v, i, &e) != napi_ok || !prop(env, e, "address", &a) || !prop(env, e, "password", &p) ||
          get_str(env, a, text, sizeof text, NULL) != 0 || get_str(env, p, pw, sizeof pw, &plen) != 0) {
        errno = EINVAL;
        failed = "TCP_MD5SIG";
        goto fail;
      }
      int r = set_md5(fd, family, text, pw, plen);
      memset(pw, 0, sizeof pw);
      if (r != 0) { failed = "TCP_MD5SIG"; goto fail; }
    }
  }
  {
    napi_value av, pv;
    int has_addr = prop(env, opts, "address", &av);
    int has_port = prop(env, opts, "port", &pv);
    if (has_addr || has_port) {
      int32_t port = 0;
      const char* any = family == 4 ? "0.0.0.0" : "::";
      if (has_addr && get_str(env, av, text, sizeof text, NULL) != 0) { errno = EINVAL; syscall = "bind"; goto fail; }
      if (!has_addr) snprintf(text, sizeof text, "%s", any);
      if (has_port && (get_int(env, pv, &port) != 0 || port < 0 || port > 65535)) { errno = EINVAL; syscall = "bind"; goto fail; }
      struct sockaddr_storage ss;
      socklen_t len;
      if (fill_addr(family, text, port, &ss, &len) != 0) { errno = EINVAL; syscall = "bind"; goto fail; }
      if (bind(fd, (struct sockaddr*)&ss, len) != 0) { syscall = "bind"; goto fail; }
    }
  }
  napi_value out;
  CHECK(napi_create_int32(env, fd, &out));
  return out;
fail:
  err = errno;
  close(fd);
  throw_errno(env, err, syscall, failed);
  return NULL;
}

typedef struct {
  int fd;
  int family;
  struct sockaddr_storage addr;
  socklen_t addrlen;
  int timeout_ms;
  int err;
  napi_deferred deferred;
  napi_async_work work;
} ConnectJob;

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void connect_execute(napi_env env, void* data) {
  (void)env;
  ConnectJob* job = (ConnectJob*)data;
  job->err = 0;
  if (connect(job->fd, (struct sockaddr*)&job->addr, job->addrlen) == 0) return;
  if (errno != EINPROGRESS) {
    job->err = errno;
    return;
  }
  long deadline = now_ms() + job->timeout_ms;
  for (;;) {
    long left = deadline - now_ms();
    if (left <= 0) {
      job->err = ETIMEDOUT;
      return;
    }
    struct pollfd p = {.fd = job->fd, .events = POLLOUT};
    int r = poll(&p, 1, (int)(left > 100 ? 100 : left));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      job->err = errno;
      return;
    }
    if (r == 0) {
      // The fd may have been closed from JS (cancel): fcntl fails then.
      if (fcntl(job->fd, F_GETFD) < 0) {
        job->err = ECANCELED;
        return;
      }
      continue;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(job->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) soerr = errno;
    job->err = soerr;
    return;
  }
}

static void connect_complete(napi_env env, napi_status status, void* data) {
  ConnectJob* job = (ConnectJob*)data;
  if (status != napi_ok) job->err = ECANCELED;
  if (job->err == 0) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, job->deferred, undef);
  } else {
    napi_reject_deferred(env, job->deferred, make_error(env, job->err, "connect", NULL));
  }
  napi_delete_async_work(env, job->work);
  free(job);
}

// connect(fd, address, port, timeoutMs) -> Promise<void>
static napi_value Connect(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, port, timeout;
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  if (argc < 4 || get_int(env, argv[0], &fd) != 0 || get_str(env, argv[1], text, sizeof text, NULL) != 0 ||
      get_int(env, argv[2], &port) != 0 || get_int(env, argv[3], &timeout) != 0 || port < 1 || port > 65535 ||
      timeout < 1) {
    napi_throw_type_error(env, "EINVAL", "connect(fd, address, port, timeoutMs)");
    return NULL;
  }
  ConnectJob* job = calloc(1, sizeof *job);
  if (!job) {
    throw_errno(env, ENOMEM, "connect", NULL);
    return NULL;
  }
  job->fd = fd;
  job->timeout_ms = timeout;
  int family = strchr(text, ':') ? 6 : 4;
  if (fill_addr(family, text, port, &job->addr, &job->addrlen) != 0) {
    free(job);
    throw_errno(env, EINVAL, "connect", NULL);
    return NULL;
  }
  napi_value promise, name;
  CHECK(napi_create_promise(env, &job->deferred, &promise));
  CHECK(napi_create_string_utf8(env, "bollard_tcp_connect", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, connect_execute, connect_complete, job, &job->work));
  CHECK(napi_queue_async_work(env, job->work));
  return promise;
}

static napi_value Listen(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, backlog;
  if (argc < 2 || get_int(env, argv[0], &fd) != 0 || get_int(env, argv[1], &backlog) != 0) {
    napi_throw_type_error(env, "EINVAL", "listen(fd, backlog)");
    return NULL;
  }
  if (listen(fd, backlog) != 0) throw_errno(env, errno, "listen", NULL);
  return NULL;
}

static napi_value SetMd5(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  int family;
  char peer[INET6_ADDRSTRLEN + 1];
  char pw[TCP_MD5SIG_MAXKEYLEN + 2];
  size_t plen = 0;
  if (argc < 4 || get_int(env, argv[0], &fd) != 0 || get_family(env, argv[1], &family) != 0 ||
      get_str(env, argv[2], peer, sizeof peer, NULL) != 0) {
    napi_throw_type_error(env, "EINVAL", "setMd5(fd, family, peer, password)");
    return NULL;
  }
  if (get_str(env, argv[3], pw, sizeof pw, &plen) != 0) {
    throw_errno(env, EINVAL, "setsockopt", "TCP_MD5SIG");
    return NULL;
  }
  int r = set_md5(fd, family, peer, pw, plen);
  int err = errno;
  memset(pw, 0, sizeof pw);
  if (r != 0) throw_errno(env, err, "setsockopt", "TCP_MD5SIG");
  return NULL;
}

static napi_value set_int_opt(napi_env env, napi_callback_info info, int min) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, v;
  int family;
  if (argc < 3 || get_int(env, argv[0], &fd) != 0 || get_family(env, argv[1], &family) != 0 ||
      get_int(env, argv[2], &v) != 0) {
    napi_throw_type_error(env, "EINVAL", "(fd, family, value)");
    return NULL;
  }
  const char* opt = min ? (family == 4 ? "IP_MINTTL" : "IPV6_MINHOPCOUNT") : (family == 4 ? "IP_TTL" : "IPV6_UNICAST_HOPS");
  if (v < (min ? 0 : 1) || v > 255) {
    throw_errno(env, EINVAL, "setsockopt", opt);
    return NULL;
  }
  int r = min ? set_minttl(fd, family, v) : set_ttl(fd, family, v);
  if (r != 0) throw_errno(env, errno, "setsockopt", opt);
  return NULL;
}

static napi_value SetTtl(napi_env env, napi_callback_info info) { return set_int_opt(env, info, 0); }
static napi_value SetMinTtl(napi_env env, napi_callback_info info) { return set_int_opt(env, info, 1); }

static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 1 || get_int(env, argv[0], &fd) != 0) {
    napi_throw_type_error(env, "EINVAL", "close(fd)");
    return NULL;
  }
  if (close(fd) != 0) throw_errno(env, errno, "close", NULL);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"socket", NULL, Socket, NULL, NULL, NULL, napi_default, NULL},
      {"connect", NULL, Connect, NULL, NULL, NULL, napi_default, NULL},
      {"listen", NULL, Listen, NULL, NULL, NULL, napi_default, NULL},
      {"setMd5", NULL, SetMd5, NULL, NULL, NULL, napi_default, NULL},
      {"setTtl", NULL, SetTtl, NULL, NULL, NULL, napi_default, NULL},
      {"setMinTtl", NULL, SetMinTtl, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
