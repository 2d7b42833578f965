/*
 * libu2f-emu-fifo-bridge: serves a libu2f-emu virtual U2F key (its USB/CTAPHID transport)
 * as a HID device on two FIFOs, in the protocol of u2f-ref-code's HID test shim (dev.cc),
 * which chiprig speaks too (README, "HID over named pipes"). So both
 *
 *   chiprig run --device fifo:PATH ...     and     HIDTest PATH / U2FTest PATH
 *
 * test libu2f-emu. The host writes to PATHin and reads PATHout; every host message is two
 * little-endian uint32 (cmd, len) and len bytes:
 *   4, 64  an output report: handed to u2f_emu_vdev_send(U2F_EMU_USB)
 *   5, 0   a poll: answered 5, 64 + the next input report, or 5, 0 when there is none
 *   6, 4   interrupt 199 (touch): libu2f-emu has no button (it approves presence by
 *          itself), so it is counted and otherwise ignored
 *   2, 4   mode 3: reset and quit
 *
 * libu2f-emu is used as its own USB example uses it: one output report in, then every
 * input report it has drained at once (u2f_emu_vdev_has_response/get_response), queued
 * here until the host polls for them. libu2f-emu keeps no timers, so nothing happens
 * between reports.
 *
 * libu2f-emu runs in a child process. When it dies (it dereferences NULL on some inputs),
 * the bridge says so on stderr with the report that killed it and starts it again from the
 * state it had when the bridge started (same attestation key and key-wrapping secret, so
 * earlier key handles stay valid; counter and channels as at start): what a key whose
 * firmware crashed and rebooted would look like to the host. --no-restart exits instead.
 *
 * Both FIFOs are opened O_RDWR | O_NONBLOCK (Linux): neither open waits for a host, so a
 * host may open its ends in any order (dev.cc opens PATHout read-only first, then PATHin),
 * and a host closing and reopening them gives no EOF or EPIPE here.
 *
 * Usage: libu2f-emu-fifo-bridge PATH [--setup-dir DIR] [--no-restart] [--verbose]
 *   PATH         the device path; the FIFOs are PATHin and PATHout (made, mode 600, when
 *                absent, and removed at exit if made here)
 *   --setup-dir  a libu2f-emu setup dir (certificate.pem, private-key.pem, entropy,
 *                counter), else an ephemeral device (fresh keys every start)
 * Exits 0 on the host's quit or on SIGINT/SIGTERM, 1 on errors, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "u2f-emu.h" /* libu2f-emu src/ (or include/u2f-emu/ of an installed copy) */

#define REPORT 64
#define HEADER 8
#define MAX_PAYLOAD 65536
#define QUEUE_MAX 4096 /* input reports held for the host; more than a 7609-byte answer needs */

enum { CMD_MODE = 2, CMD_WRITE = 4, CMD_POLL = 5, CMD_INTERRUPT = 6 };
enum { TOUCH = 199, MODE_QUIT = 3 };

static bool verbose;
static volatile sig_atomic_t stop_signal;

static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("libu2f-emu-fifo-bridge: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void hex(char *out, const uint8_t *bytes, size_t n) {
  for (size_t i = 0; i < n; ++i) sprintf(out + 2 * i, "%02x", bytes[i]);
  out[2 * n] = '\0';
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v) {
  p[0] = v & 0xff;
  p[1] = (v >> 8) & 0xff;
  p[2] = (v >> 16) & 0xff;
  p[3] = (v >> 24) & 0xff;
}

/* Reads exactly n bytes from a blocking fd; false on EOF or error. */
static bool read_full(int fd, void *buf, size_t n) {
  uint8_t *p = buf;
  while (n > 0) {
    ssize_t got = read(fd, p, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    p += got;
    n -= (size_t)got;
  }
  return true;
}

/* Writes all n bytes, waiting while a non-blocking fd is full; false on error. */
static bool write_full(int fd, const void *buf, size_t n) {
  const uint8_t *p = buf;
  while (n > 0) {
    ssize_t put = write(fd, p, n);
    if (put < 0 && (errno == EINTR)) continue;
    if (put < 0 && errno == EAGAIN) {
      struct pollfd pfd = {.fd = fd, .events = POLLOUT};
      poll(&pfd, 1, 100);
      continue;
    }
    if (put <= 0) return false;
    p += put;
    n -= (size_t)put;
  }
  return true;
}

/* ---- the child: libu2f-emu itself ------------------------------------------------------ */

/*
 * Serves one socket: reads 64-byte output reports, answers each with a uint32 count and that
 * many 64-byte input reports. Never returns.
 */
static void child_serve(u2f_emu_vdev *vdev, int sock) {
  uint8_t report[REPORT];
  static uint8_t answer[4 + QUEUE_MAX * REPORT];
  while (read_full(sock, report, REPORT)) {
    uint32_t count = 0;
    u2f_emu_vdev_send(vdev, U2F_EMU_USB, report, REPORT);
    while (u2f_emu_vdev_has_response(vdev, U2F_EMU_USB)) {
      uint8_t *data = NULL;
      size_t size = u2f_emu_vdev_get_response(vdev, U2F_EMU_USB, &data);
      if (data != NULL && size == REPORT && count < QUEUE_MAX) {
        memcpy(answer + 4 + (size_t)count * REPORT, data, REPORT);
        ++count;
      }
      if (data != NULL) u2f_emu_vdev_free_response(data);
    }
    put_le32(answer, count);
    if (!write_full(sock, answer, 4 + (size_t)count * REPORT)) break;
  }
  _exit(0);
}

struct device {
  u2f_emu_vdev *vdev; /* the pristine device, as created at start; each child gets a copy */
  pid_t pid;
  int sock;
  unsigned restarts;
};

static bool device_start(struct device *dev) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) {
    say("socketpair: %s", strerror(errno));
    return false;
  }
  pid_t pid = fork();
  if (pid < 0) {
    say("fork: %s", strerror(errno));
    close(pair[0]);
    close(pair[1]);
    return false;
  }
  if (pid == 0) {
    close(pair[0]);
    signal(SIGINT, SIG_IGN); /* the parent decides when to stop */
    signal(SIGTERM, SIG_DFL);
    child_serve(dev->vdev, pair[1]);
  }
  close(pair[1]);
  dev->pid = pid;
  dev->sock = pair[0];
  return true;
}

static void device_stop(struct device *dev) {
  if (dev->pid <= 0) return;
  close(dev->sock);
  int status;
  waitpid(dev->pid, &status, 0);
  dev->pid = 0;
}

/* Describes how the child ended, after its socket failed. */
static void device_reap(struct device *dev, char *why, size_t n) {
  int status = 0;
  close(dev->sock);
  if (waitpid(dev->pid, &status, 0) < 0) {
    snprintf(why, n, "its socket failed (%s)", strerror(errno));
  } else if (WIFSIGNALED(status)) {
    snprintf(why, n, "it died of signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
  } else {
    snprintf(why, n, "it exited with status %d", WEXITSTATUS(status));
  }
  dev->pid = 0;
}

/* ---- the parent: FIFOs and the report queue ------------------------------------------- */

static uint8_t queue[QUEUE_MAX][REPORT];
static size_t queue_head, queue_len;

static void queue_push(const uint8_t *report) {
  if (queue_len == QUEUE_MAX) {
    say("more than %d input reports unread by the host: dropped the oldest", QUEUE_MAX);
    queue_head = (queue_head + 1) % QUEUE_MAX;
    --queue_len;
  }
  memcpy(queue[(queue_head + queue_len) % QUEUE_MAX], report, REPORT);
  ++queue_len;
}

/* Hands one output report to libu2f-emu and queues its answer; false if the bridge must end. */
static bool handle_write(struct device *dev, const uint8_t *report, bool restart) {
  static uint8_t answer[QUEUE_MAX * REPORT];
  uint8_t count_le[4];
  char why[128];
  if (dev->pid > 0 && write_full(dev->sock, report, REPORT) && read_full(dev->sock, count_le, 4)) {
    uint32_t count = le32(count_le);
    if (count <= QUEUE_MAX && read_full(dev->sock, answer, (size_t)count * REPORT)) {
      for (uint32_t i = 0; i < count; ++i) queue_push(answer + (size_t)i * REPORT);
      if (verbose) {
        char text[2 * REPORT + 1];
        hex(text, report, REPORT);
        say("out %s -> %u report(s)", text, count);
      }
      return true;
    }
  }
  char text[2 * REPORT + 1];
  hex(text, report, REPORT);
  device_reap(dev, why, sizeof why);
  say("libu2f-emu stopped while handling the output report %s: %s", text, why);
  if (!restart) return false;
  ++dev->restarts;
  queue_head = queue_len = 0;
  say("restarted libu2f-emu (restart %u) with the state it had when the bridge started", dev->restarts);
  return device_start(dev);
}

static void on_signal(int sig) { stop_signal = sig; }

static int make_fifo(const char *path, bool *made) {
  struct stat st;
  *made = false;
  if (stat(path, &st) == 0) {
    if (S_ISFIFO(st.st_mode)) return 0;
    say("%s exists and is not a FIFO", path);
    return -1;
  }
  if (errno != ENOENT || mkfifo(path, 0600) != 0) {
    say("cannot create the FIFO %s: %s", path, strerror(errno));
    return -1;
  }
  *made = true;
  return 0;
}

static void usage(void) {
  fputs("usage: libu2f-emu-fifo-bridge PATH [--setup-dir DIR] [--no-restart] [--verbose]\n", stderr);
}

int main(int argc, char **argv) {
  const char *path = NULL, *setup_dir = NULL;
  bool restart = true;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--setup-dir") && i + 1 < argc) {
      setup_dir = argv[++i];
    } else if (!strcmp(argv[i], "--no-restart")) {
      restart = false;
    } else if (!strcmp(argv[i], "--verbose")) {
      verbose = true;
    } else if (argv[i][0] != '-' && path == NULL) {
      path = argv[i];
    } else {
      usage();
      return 2;
    }
  }
  if (path == NULL) {
    usage();
    return 2;
  }

  struct device dev = {0};
  u2f_emu_rc rc = setup_dir ? u2f_emu_vdev_new_from_dir(&dev.vdev, setup_dir) : u2f_emu_vdev_new_ephemeral(&dev.vdev);
  if (rc != U2F_EMU_OK) {
    say("cannot create the libu2f-emu device%s%s: %s", setup_dir ? " from " : "", setup_dir ? setup_dir : "",
        u2f_emu_strerror(rc));
    return 1;
  }

  size_t n = strlen(path);
  char *to_device = malloc(n + 4), *from_device = malloc(n + 4);
  sprintf(to_device, "%sin", path);
  sprintf(from_device, "%sout", path);
  bool made_in = false, made_out = false;
  if (make_fifo(to_device, &made_in) != 0 || make_fifo(from_device, &made_out) != 0) {
    if (made_in) unlink(to_device);
    return 1;
  }
  int in = open(to_device, O_RDWR | O_NONBLOCK);
  int out = in < 0 ? -1 : open(from_device, O_RDWR | O_NONBLOCK);
  if (in < 0 || out < 0) {
    say("cannot open the FIFOs of %s: %s", path, strerror(errno));
    if (made_in) unlink(to_device);
    if (made_out) unlink(from_device);
    return 1;
  }

  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  if (!device_start(&dev)) return 1;
  printf("serving libu2f-emu (%s) as a HID device on FIFOs %s (host writes) and %s (host reads)\n",
         setup_dir ? "setup dir" : "ephemeral", to_device, from_device);
  fflush(stdout);

  static uint8_t buf[HEADER + MAX_PAYLOAD + 4096];
  size_t have = 0;
  int status = 0;
  unsigned touches = 0;
  bool quit = false;
  while (!quit && !stop_signal) {
    struct pollfd pfd = {.fd = in, .events = POLLIN};
    int ready = poll(&pfd, 1, 500);
    if (ready < 0) {
      if (errno == EINTR) continue;
      say("poll: %s", strerror(errno));
      status = 1;
      break;
    }
    if (ready == 0) continue;
    ssize_t got = read(in, buf + have, sizeof buf - have);
    if (got < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      say("reading %s: %s", to_device, strerror(errno));
      status = 1;
      break;
    }
    have += (size_t)got;
    size_t at = 0;
    while (!quit && have - at >= HEADER) {
      uint32_t cmd = le32(buf + at), len = le32(buf + at + 4);
      if (len > MAX_PAYLOAD) {
        say("a message header (cmd %u) announces %u bytes: the stream is out of step; dropped %zu bytes", cmd,
            len, have - at);
        at = have;
        break;
      }
      if (have - at - HEADER < len) break;
      const uint8_t *payload = buf + at + HEADER;
      at += HEADER + len;
      if (cmd == CMD_WRITE && len == REPORT) {
        if (!handle_write(&dev, payload, restart)) {
          status = 1;
          quit = true;
        }
      } else if (cmd == CMD_POLL && len == 0) {
        uint8_t answer[HEADER + REPORT];
        put_le32(answer, CMD_POLL);
        if (queue_len > 0) {
          put_le32(answer + 4, REPORT);
          memcpy(answer + HEADER, queue[queue_head], REPORT);
          queue_head = (queue_head + 1) % QUEUE_MAX;
          --queue_len;
          if (!write_full(out, answer, HEADER + REPORT)) say("writing %s: %s", from_device, strerror(errno));
        } else {
          put_le32(answer + 4, 0);
          if (!write_full(out, answer, HEADER)) say("writing %s: %s", from_device, strerror(errno));
        }
      } else if (cmd == CMD_INTERRUPT && len == 4) {
        uint32_t number = le32(payload);
        if (number == TOUCH) {
          ++touches;
          if (verbose || touches == 1)
            say("touch (interrupt 199): libu2f-emu has no button and approves presence by itself; ignored");
        } else {
          say("ignored interrupt %u (cmd 6): only 199, touch, is known", number);
        }
      } else if (cmd == CMD_MODE && len == 4) {
        uint32_t mode = le32(payload);
        if (mode == MODE_QUIT) {
          say("the host sent mode 3 (reset and quit)");
          quit = true;
        } else {
          say("ignored mode %u (cmd 2): only 3, quit, is known", mode);
        }
      } else {
        say("skipped cmd %u with %u bytes", cmd, len);
      }
    }
    memmove(buf, buf + at, have - at);
    have -= at;
  }
  if (stop_signal) say("stopped by signal %d", (int)stop_signal);
  if (dev.restarts > 0) say("libu2f-emu was restarted %u time(s) during this run", dev.restarts);
  device_stop(&dev);
  u2f_emu_vdev_free(dev.vdev);
  close(in);
  close(out);
  if (made_in) unlink(to_device);
  if (made_out) unlink(from_device);
  return status;
}
