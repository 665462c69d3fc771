/*
 * The router's neighbour entry for one address on one link, asked of the kernel over rtnetlink
 * (RTM_GETNEIGH for one destination), as a Node-API addon for the meta data server's identity
 * check. Reading /proc/net/arp instead costs time that grows with the square of the table: the
 * kernel hands it out a page per read and walks the table from its start for every page (about
 * 45 ms a read at 10,000 neighbours, measured), which at the scale of a router for thousands of VMs
 * stalls every request. One netlink request costs the same at any table size.
 * Built by scripts/build-native.mjs (repository root) with the system C compiler; without it
 * guestrouter reads /proc/net/arp as before.
 *
 *   open(netnsPath | null) -> fd       a NETLINK_ROUTE socket in that network namespace (a path such
 *                                      as /proc/PID/ns/net; null: the calling thread's own). The
 *                                      calling thread enters the namespace only to create the socket
 *                                      and returns to its own at once.
 *   close(fd)
 *   ifindex(fd, name) -> index         the link's index in the socket's namespace; throws ENODEV
 *   neighbour(fd, ifindex, ipv4) -> "aa:bb:cc:dd:ee:ff" | null
 *                                      the entry's MAC when it is valid (reachable, stale, delay,
 *                                      probe, permanent); null when there is none or it is incomplete
 *                                      or failed; throws ENODEV for an index that is no link.
 * Errors are thrown with their errno name as the code.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <node_api.h>

/* The kernel's NUD_VALID (include/net/neighbour.h, not exported to user space). */
#define VALID_STATES (NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY)

static unsigned int next_seq = 1;

static const char *errno_name(int e) {
  switch (e) {
    case ENODEV: return "ENODEV";
    case ENOENT: return "ENOENT";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOBUFS: return "ENOBUFS";
    default: return "EIO";
  }
}

static napi_value throw_errno(napi_env env, int e, const char *what) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(e));
  napi_throw_error(env, errno_name(e), message);
  return NULL;
}

static void add_attr(struct nlmsghdr *n, unsigned short type, const void *data, unsigned short len) {
  struct rtattr *rta = (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));
  rta->rta_type = type;
  rta->rta_len = RTA_LENGTH(len);
  memcpy(RTA_DATA(rta), data, len);
  n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/*
 * Sends one request and reads until its answer: the message carrying its sequence number, an
 * error (negative errno), or nothing matching within the socket's receive timeout. Answers to
 * an earlier request that timed out are skipped by their sequence number.
 */
static int exchange(int fd, struct nlmsghdr *request, char *answer, size_t size, struct nlmsghdr **found) {
  unsigned int seq = __atomic_fetch_add(&next_seq, 1, __ATOMIC_RELAXED);
  request->nlmsg_seq = seq;
  if (send(fd, request, request->nlmsg_len, 0) < 0) return -errno;
  for (;;) {
    ssize_t got = recv(fd, answer, size, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)answer; NLMSG_OK(h, (size_t)got); h = NLMSG_NEXT(h, got)) {
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = (struct nlmsgerr *)NLMSG_DATA(h);
        return e->error == 0 ? -ENOENT : e->error;
      }
      *found = h;
      return 0;
    }
  }
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_valuetype type = napi_null;
  char path[256];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1) napi_typeof(env, argv[0], &type);
  int own = -1, target = -1;
  if (type == napi_string) {
    size_t len;
    if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len >= sizeof path - 1) {
      napi_throw_type_error(env, "EINVAL", "open: the namespace path is too long");
      return NULL;
    }
    own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (own < 0) return throw_errno(env, errno, "open /proc/thread-self/ns/net");
    target = open(path, O_RDONLY | O_CLOEXEC);
    if (target < 0) {
      int e = errno;
      close(own);
      return throw_errno(env, e, path);
    }
    if (setns(target, CLONE_NEWNET) < 0) {
      int e = errno;
      close(own);
      close(target);
      return throw_errno(env, e, "setns");
    }
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  int socket_errno = errno;
  if (own >= 0) {
    if (setns(own, CLONE_NEWNET) < 0) {
      // This thread would go on in another namespace, binding and connecting there: never.
      fprintf(stderr, "guestrouter neigh addon: cannot return to the thread's own network namespace: %s\n",
              strerror(errno));
      abort();
    }
    close(own);
    close(target);
  }
  if (fd < 0) return throw_errno(env, socket_errno, "socket(NETLINK_ROUTE)");
  // A lookup never waits long: the kernel answers at once, this only bounds a lost answer.
  struct timeval timeout = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  struct sockaddr_nl local = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "bind(NETLINK_ROUTE)");
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "expected (fd)");
    return NULL;
  }
  close(fd);
  return NULL;
}

static napi_value js_ifindex(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  char name[IFNAMSIZ + 1];
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], name, sizeof name, &len) != napi_ok || len == 0 || len >= IFNAMSIZ) {
    napi_throw_type_error(env, "EINVAL", "expected (fd, link name)");
    return NULL;
  }
  struct {
    struct nlmsghdr n;
    struct ifinfomsg i;
    char attrs[64];
  } req;
  memset(&req, 0, sizeof req);
  req.n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  req.n.nlmsg_type = RTM_GETLINK;
  req.n.nlmsg_flags = NLM_F_REQUEST;
  req.i.ifi_family = AF_UNSPEC;
  add_attr(&req.n, IFLA_IFNAME, name, (unsigned short)(len + 1));
  // A link's answer carries all its attributes and statistics: a few KiB.
  char answer[16384];
  struct nlmsghdr *h = NULL;
  int error = exchange(fd, &req.n, answer, sizeof answer, &h);
  if (error != 0) return throw_errno(env, error == -ENOENT ? ENODEV : -error, name);
  if (h->nlmsg_type != RTM_NEWLINK) return throw_errno(env, EIO, "RTM_GETLINK answer");
  struct ifinfomsg *i = (struct ifinfomsg *)NLMSG_DATA(h);
  napi_value result;
  napi_create_int32(env, i->ifi_index, &result);
  return result;
}

static napi_value js_neighbour(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd, ifindex;
  char text[INET_ADDRSTRLEN + 1];
  size_t len;
  struct in_addr address;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &ifindex) != napi_ok ||
      napi_get_value_string_utf8(env, argv[2], text, sizeof text, &len) != napi_ok ||
      inet_pton(AF_INET, text, &address) != 1) {
    napi_throw_type_error(env, "EINVAL", "expected (fd, ifindex, IPv4 address)");
    return NULL;
  }
  struct {
    struct nlmsghdr n;
    struct ndmsg ndm;
    char attrs[32];
  } req;
  memset(&req, 0, sizeof req);
  req.n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg));
  req.n.nlmsg_type = RTM_GETNEIGH;
  req.n.nlmsg_flags = NLM_F_REQUEST;
  req.ndm.ndm_family = AF_INET;
  req.ndm.ndm_ifindex = ifindex;
  add_attr(&req.n, NDA_DST, &address, sizeof address);
  char answer[1024];
  struct nlmsghdr *h = NULL;
  napi_value result;
  int error = exchange(fd, &req.n, answer, sizeof answer, &h);
  if (error == -ENOENT) {
    napi_get_null(env, &result);
    return result;
  }
  if (error != 0) return throw_errno(env, -error, "RTM_GETNEIGH");
  if (h->nlmsg_type != RTM_NEWNEIGH) return throw_errno(env, EIO, "RTM_GETNEIGH answer");
  struct ndmsg *ndm = (struct ndmsg *)NLMSG_DATA(h);
  int remaining = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof *ndm);
  const unsigned char *mac = NULL;
  for (struct rtattr *rta = (struct rtattr *)((char *)ndm + NLMSG_ALIGN(sizeof *ndm)); RTA_OK(rta, remaining);
       rta = RTA_NEXT(rta, remaining)) {
    if (rta->rta_type == NDA_LLADDR && RTA_PAYLOAD(rta) == 6) mac = RTA_DATA(rta);
  }
  // What /proc/net/arp marks complete (ATF_COM); incomplete and failed entries have no usable MAC.
  if (mac == NULL || (ndm->ndm_state & VALID_STATES) == 0) {
    napi_get_null(env, &result);
    return result;
  }
  char out[18];
  snprintf(out, sizeof out, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  napi_create_string_latin1(env, out, 17, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor methods[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"ifindex", NULL, js_ifindex, NULL, NULL, NULL, napi_default, NULL},
      {"neighbour", NULL, js_neighbour, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof methods / sizeof methods[0], methods);
  return exports;
}
