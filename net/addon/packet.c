// bollard_packet: an AF_PACKET socket bound to one interface, for the layer 2 speaker.
//
//  open(ifindex, onFrame[, filter])
//                          -> handle; a non-blocking SOCK_RAW packet socket, a classic BPF filter in
//                             the kernel (filter "arp-ndp", the default: ARP, and ICMPv6 Neighbor
//                             Solicitation/Advertisement only; "bfd-echo": unfragmented IPv4 UDP to
//                             port 3785, the BFD echoes of RFC 5881 §4),
//                             bound to ifindex, polled by libuv: every frame that passes is delivered
//                             as onFrame(buffer, pktType) on the JS thread (pktType: PACKET_HOST=0,
//                             BROADCAST=1, MULTICAST=2, OTHERHOST=3, OUTGOING=4).
//  send(handle, frame)     -> bytes sent; throws on error (errno in the message and `code`).
//  addMembership(handle, mac6) / dropMembership(handle, mac6): PACKET_ADD/DROP_MEMBERSHIP
//                             (PACKET_MR_MULTICAST) so the NIC accepts a multicast MAC (NDP's
//                             solicited-node groups, 33:33:ff:xx:xx:xx).
//  stats(handle)           -> { received, dropped } (PACKET_STATISTICS, since the last call).
//  close(handle)           -> stops polling and closes the socket (idempotent; also on GC).
//  filters                 -> the filter names open() knows (absent in builds before "bfd-echo").
//
// Plain N-API C (node_api.h) so no dependency is needed to build it.
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FRAME 2048
#define MAX_FRAMES_PER_WAKE 256

typedef struct {
  int fd;
  int ifindex;
  int closing;
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  napi_ref self;
} packet_sock;

static napi_value throw_errno(napi_env env, const char* what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  char code[32];
  snprintf(code, sizeof code, "E%d", err);
  napi_throw_error(env, code, msg);
  return NULL;
}

#define NAPI_CALL(env, call)                                         \
  do {                                                               \
    if ((call) != napi_ok) {                                         \
      napi_throw_error((env), NULL, "N-API call failed: " #call);    \
      return NULL;                                                   \
    }                                                                \
  } while (0)

// ldh [12]; ARP -> accept; IPv6 -> ldb [20] == 58 (ICMPv6, no extension header) -> ldb [54] in {135, 136}.
static struct sock_filter ndp_arp_filter[] = {
    /* 0 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
    /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_ARP, 7, 0),
    /* 2 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 5),
    /* 3 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 20),
    /* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 58, 0, 3),
    /* 5 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 54),
    /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 135, 2, 0),
    /* 7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 136, 1, 0),
    /* 8 */ BPF_STMT(BPF_RET | BPF_K, 0),
    /* 9 */ BPF_STMT(BPF_RET | BPF_K, 0x40000),
};

// ldh [12] == IPv4; ldb [23] == UDP; no fragment offset; x = IHL*4; ldh [x+16] (UDP dport) == 3785.
static struct sock_filter bfd_echo_filter[] = {
    /* 0 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
    /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 8),
    /* 2 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23),
    /* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 6),
    /* 4 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20),
    /* 5 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 4, 0),
    /* 6 */ BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14),
    /* 7 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, 16),
    /* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 3785, 0, 1),
    /* 9 */ BPF_STMT(BPF_RET | BPF_K, 0x40000),
    /* 10 */ BPF_STMT(BPF_RET | BPF_K, 0),
};

static void on_poll_closed(uv_handle_t* h) {
  packet_sock* s = (packet_sock*)h->data;
  free(s);
}

// Stops polling and closes the fd; frees the struct once libuv is done with the poll handle.
static void sock_shutdown(packet_sock* s, int from_finalizer) {
  if (s->closing) return;
  s->closing = 1;
  uv_poll_stop(&s->poll);
  if (s->fd >= 0) {
    close(s->fd);
    s->fd = -1;
  }
  if (!from_finalizer) {
    if (s->callback) napi_delete_reference(s->env, s->callback);
    if (s->async) napi_async_destroy(s->env, s->async);
    if (s->self) napi_delete_reference(s->env, s->self);
  }
  s->callback = NULL;
  s->async = NULL;
  s->self = NULL;
  uv_close((uv_handle_t*)&s->poll, on_poll_closed);
}

static void finalize_sock(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  packet_sock* s = (packet_sock*)data;
  if (!s->closing) sock_shutdown(s, 1);
  // When already closing, on_poll_closed frees it (or has already: it only runs after uv_close).
}

static void on_readable(uv_poll_t* handle, int status, int events) {
  packet_sock* s = (packet_sock*)handle->data;
  (void)events;
  if (s->closing || status < 0) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  unsigned char buf[MAX_FRAME];
  for (int i = 0; i < MAX_FRAMES_PER_WAKE && !s->closing; i++) {
    struct sockaddr_ll from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(s->fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr*)&from, &fromlen);
    if (n < 0) break;  // EAGAIN or a transient error: wait for the next wake.
    napi_value cb, recv, argv[2], result;
    void* data = NULL;
    if (napi_create_buffer_copy(env, (size_t)n, buf, &data, &argv[0]) != napi_ok) break;
    napi_create_int32(env, from.sll_pkttype, &argv[1]);
    if (napi_get_reference_value(env, s->callback, &cb) != napi_ok || cb == NULL) break;
    napi_get_global(env, &recv);
    napi_status st = napi_make_callback(env, s->async, recv, cb, 2, argv, &result);
    if (st == napi_pending_exception) {
      // An exception escaped the JS callback: report it like any uncaught exception, keep polling.
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
      break;
    }
  }
  napi_close_handle_scope(env, scope);
}

static packet_sock* unwrap(napi_env env, napi_value obj) {
  packet_sock* s = NULL;
  if (napi_unwrap(env, obj, (void**)&s) != napi_ok || s == NULL) {
    napi_throw_type_error(env, NULL, "not a packet socket handle");
    return NULL;
  }
  if (s->closing) {
    napi_throw_error(env, "ECLOSED", "packet socket is closed");
    return NULL;
  }
  return s;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "open(ifindex, onFrame[, filter])");
    return NULL;
  }
  struct sock_fprog prog = {.len = sizeof ndp_arp_filter / sizeof ndp_arp_filter[0], .filter = ndp_arp_filter};
  if (argc >= 3) {
    napi_valuetype ft;
    NAPI_CALL(env, napi_typeof(env, argv[2], &ft));
    if (ft != napi_undefined) {
      char fname[16];
      size_t flen = 0;
      if (ft != napi_string ||
          napi_get_value_string_utf8(env, argv[2], fname, sizeof fname, &flen) != napi_ok) {
        napi_throw_type_error(env, NULL, "filter must be a string");
        return NULL;
      }
      if (strcmp(fname, "bfd-echo") == 0) {
        prog.len = sizeof bfd_echo_filter / sizeof bfd_echo_filter[0];
        prog.filter = bfd_echo_filter;
      } else if (strcmp(fname, "arp-ndp") != 0) {
        napi_throw_type_error(env, NULL, "unknown filter");
        return NULL;
      }
    }
  }
  int32_t ifindex = 0;
  if (napi_get_value_int32(env, argv[0], &ifindex) != napi_ok || ifindex <= 0) {
    napi_throw_type_error(env, NULL, "ifindex must be a positive integer");
    return NULL;
  }
  napi_valuetype t;
  NAPI_CALL(env, napi_typeof(env, argv[1], &t));
  if (t != napi_function) {
    napi_throw_type_error(env, NULL, "onFrame must be a function");
    return NULL;
  }

  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "SO_ATTACH_FILTER", e);
  }
  struct sockaddr_ll addr;
  memset(&addr, 0, sizeof addr);
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr*)&addr, sizeof addr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind(AF_PACKET)", e);
  }
  // Frames queued between socket() and the filter may not match it: drain them.
  unsigned char junk[MAX_FRAME];
  while (recv(fd, junk, sizeof junk, MSG_DONTWAIT) >= 0) {
  }

  packet_sock* s = (packet_sock*)calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  s->fd = fd;
  s->ifindex = ifindex;
  s->env = env;
  s->poll.data = s;
  uv_loop_t* loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &s->poll, fd) != 0) {
    close(fd);
    free(s);
    napi_throw_error(env, NULL, "uv_poll_init failed");
    return NULL;
  }
  napi_value obj, name;
  NAPI_CALL(env, napi_create_object(env, &obj));
  NAPI_CALL(env, napi_create_reference(env, argv[1], 1, &s->callback));
  NAPI_CALL(env, napi_create_string_utf8(env, "bollard:packet", NAPI_AUTO_LENGTH, &name));
  NAPI_CALL(env, napi_async_init(env, obj, name, &s->async));
  NAPI_CALL(env, napi_wrap(env, obj, s, finalize_sock, NULL, NULL));
  // Strong self-reference while open: an open socket is never collected under the caller's feet.
  NAPI_CALL(env, napi_create_reference(env, obj, 1, &s->self));
  if (uv_poll_start(&s->poll, UV_READABLE, on_readable) != 0) {
    sock_shutdown(s, 0);
    napi_throw_error(env, NULL, "uv_poll_start failed");
    return NULL;
  }
  return obj;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "send(handle, frame)");
    return NULL;
  }
  packet_sock* s = unwrap(env, argv[0]);
  if (!s) return NULL;
  void* data = NULL;
  size_t len = 0;
  bool is_buf = false;
  napi_is_buffer(env, argv[1], &is_buf);
  if (is_buf) {
    NAPI_CALL(env, napi_get_buffer_info(env, argv[1], &data, &len));
  } else {
    bool is_ta = false;
    napi_is_typedarray(env, argv[1], &is_ta);
    if (!is_ta) {
      napi_throw_type_error(env, NULL, "frame must be a Buffer or Uint8Array");
      return NULL;
    }
    napi_typedarray_type tt;
    napi_value ab;
    size_t off;
    NAPI_CALL(env, napi_get_typedarray_info(env, argv[1], &tt, &len, &data, &ab, &off));
    if (tt != napi_uint8_array) {
      napi_throw_type_error(env, NULL, "frame must be a Uint8Array");
      return NULL;
    }
  }
  if (len < 14 || len > MAX_FRAME) {
    napi_throw_range_error(env, NULL, "frame length must be 14..2048 bytes");
    return NULL;
  }
  struct sockaddr_ll to;
  memset(&to, 0, sizeof to);
  to.sll_family = AF_PACKET;
  to.sll_ifindex = s->ifindex;
  to.sll_halen = ETH_ALEN;
  memcpy(to.sll_addr, data, ETH_ALEN);
  memcpy(&to.sll_protocol, (unsigned char*)data + 12, 2);
  ssize_t n = sendto(s->fd, data, len, MSG_DONTWAIT, (struct sockaddr*)&to, sizeof to);
  if (n < 0) return throw_errno(env, "sendto(AF_PACKET)", errno);
  napi_value out;
  NAPI_CALL(env, napi_create_int64(env, (int64_t)n, &out));
  return out;
}

static napi_value membership(napi_env env, napi_callback_info info, int add) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "membership(handle, mac)");
    return NULL;
  }
  packet_sock* s = unwrap(env, argv[0]);
  if (!s) return NULL;
  void* data = NULL;
  size_t len = 0;
  bool is_buf = false;
  napi_is_buffer(env, argv[1], &is_buf);
  if (!is_buf) {
    napi_throw_type_error(env, NULL, "mac must be a 6-byte Buffer");
    return NULL;
  }
  NAPI_CALL(env, napi_get_buffer_info(env, argv[1], &data, &len));
  if (len != ETH_ALEN) {
    napi_throw_range_error(env, NULL, "mac must be 6 bytes");
    return NULL;
  }
  struct packet_mreq mr;
  memset(&mr, 0, sizeof mr);
  mr.mr_ifindex = s->ifindex;
  mr.mr_type = PACKET_MR_MULTICAST;
  mr.mr_alen = ETH_ALEN;
  memcpy(mr.mr_address, data, ETH_ALEN);
  if (setsockopt(s->fd, SOL_PACKET, add ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP, &mr, sizeof mr) < 0)
    return throw_errno(env, add ? "PACKET_ADD_MEMBERSHIP" : "PACKET_DROP_MEMBERSHIP", errno);
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

static napi_value js_add_membership(napi_env env, napi_callback_info info) { return membership(env, info, 1); }
static napi_value js_drop_membership(napi_env env, napi_callback_info info) { return membership(env, info, 0); }

static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "stats(handle)");
    return NULL;
  }
  packet_sock* s = unwrap(env, argv[0]);
  if (!s) return NULL;
  struct tpacket_stats st;
  socklen_t l = sizeof st;
  if (getsockopt(s->fd, SOL_PACKET, PACKET_STATISTICS, &st, &l) < 0) return throw_errno(env, "PACKET_STATISTICS", errno);
  napi_value out, rx, drops;
  NAPI_CALL(env, napi_create_object(env, &out));
  NAPI_CALL(env, napi_create_uint32(env, st.tp_packets, &rx));
  NAPI_CALL(env, napi_create_uint32(env, st.tp_drops, &drops));
  NAPI_CALL(env, napi_set_named_property(env, out, "received", rx));
  NAPI_CALL(env, napi_set_named_property(env, out, "dropped", drops));
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_value undef;
  napi_get_undefined(env, &undef);
  if (argc < 1) return undef;
  packet_sock* s = NULL;
  if (napi_unwrap(env, argv[0], (void**)&s) != napi_ok || s == NULL) return undef;
  if (!s->closing) {
    // Detach first: the finalizer must not touch a struct that on_poll_closed frees.
    void* ignored;
    napi_remove_wrap(env, argv[0], &ignored);
    sock_shutdown(s, 0);
  }
  return undef;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"addMembership", NULL, js_add_membership, NULL, NULL, NULL, napi_default, NULL},
      {"dropMembership", NULL, js_drop_membership, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  napi_value filters, name;
  const char* names[] = {"arp-ndp", "bfd-echo"};
  NAPI_CALL(env, napi_create_array_with_length(env, 2, &filters));
  for (uint32_t i = 0; i < 2; i++) {
    NAPI_CALL(env, napi_create_string_utf8(env, names[i], NAPI_AUTO_LENGTH, &name));
    NAPI_CALL(env, napi_set_element(env, filters, i, name));
  }
  NAPI_CALL(env, napi_set_named_property(env, exports, "filters", filters));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
