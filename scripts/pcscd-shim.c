/*
 * LD_PRELOAD shim for pcscd, two fixes:
 * - TCP_NODELAY on every socket pcscd accepts or connects. Debian 12's vpcd (vsmartcard 3.3)
 *   sends a frame's length and payload in two writes without TCP_NODELAY; with the peer's
 *   delayed ACK that costs ~44 ms per APDU (docs/emulation.md, NFC). Non-TCP sockets just
 *   ignore the option.
 * - Loopback only: vpcd's shipped reader.conf listens on 0.0.0.0 (TCP 35963/35964), so anyone
 *   on the network could play a card to the station's pcscd. With CHIPRIG_VPCD_BIND=loopback
 *   a bind to the IPv4 or IPv6 wildcard address binds to loopback instead.
 * Build: gcc -shared -fPIC -o pcscd-shim.so pcscd-shim.c -ldl.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static void nodelay(int fd) {
  int one = 1;
  if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int accept(int fd, struct sockaddr *addr, socklen_t *len) {
  static int (*real)(int, struct sockaddr *, socklen_t *);
  if (!real) real = dlsym(RTLD_NEXT, "accept");
  int s = real(fd, addr, len);
  nodelay(s);
  return s;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
  static int (*real)(int, struct sockaddr *, socklen_t *, int);
  if (!real) real = dlsym(RTLD_NEXT, "accept4");
  int s = real(fd, addr, len, flags);
  nodelay(s);
  return s;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
  static int (*real)(int, const struct sockaddr *, socklen_t);
  if (!real) real = dlsym(RTLD_NEXT, "connect");
  nodelay(fd);
  return real(fd, addr, len);
}

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
  static int (*real)(int, const struct sockaddr *, socklen_t);
  if (!real) real = dlsym(RTLD_NEXT, "bind");
  const char *mode = getenv("CHIPRIG_VPCD_BIND");
  if (!mode || strcmp(mode, "loopback") != 0 || !addr) return real(fd, addr, len);
  if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
    struct sockaddr_in in = *(const struct sockaddr_in *)addr;
    if (in.sin_addr.s_addr == htonl(INADDR_ANY)) in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return real(fd, (const struct sockaddr *)&in, sizeof in);
  }
  if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 in6 = *(const struct sockaddr_in6 *)addr;
    if (memcmp(&in6.sin6_addr, &in6addr_any, sizeof in6addr_any) == 0) in6.sin6_addr = in6addr_loopback;
    return real(fd, (const struct sockaddr *)&in6, sizeof in6);
  }
  return real(fd, addr, len);
}
