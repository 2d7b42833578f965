/*
 * LD_PRELOAD shim for pcscd: sets TCP_NODELAY on every socket pcscd accepts or connects.
 * Debian 12's vpcd (vsmartcard 3.3) sends a frame's length and payload in two writes without
 * TCP_NODELAY; with the peer's delayed ACK that costs ~44 ms per APDU (docs/emulation.md, NFC).
 * Build: gcc -shared -fPIC -o nodelay.so nodelay.c -ldl. Non-TCP sockets just ignore the option.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
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
