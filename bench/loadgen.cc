// The benchmark's load generator: a single-threaded epoll WebSocket client,
// compiled by bench/run.ts with g++ -O2 at bench time. It sends precomputed
// masked frames and counts echoed bytes instead of parsing them (every echo
// of one message has the same length), so a message costs it a few hundred
// nanoseconds; bench/run.ts proves it is not the bottleneck by driving Bun's
// native server far above every JavaScript server.
//
//   loadgen pipeline HOST PORT CONNS WINDOW SIZE text|binary WARMUP_S SECONDS
//       CONNS connections, WINDOW messages of SIZE bytes in flight on each;
//       prints {"messages":..,"seconds":..,"rate":..,"bytesPerSecond":..}
//   loadgen pingpong HOST PORT SIZE WARMUP_S SECONDS
//       one connection, one message in flight; prints latency percentiles in us
//   loadgen idle HOST PORT CONNS
//       opens CONNS connections, prints "ready N" and holds them until stdin closes
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

static double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// CPU seconds this process has used: the generator's own load, reported so
// that a run shows how much headroom the generator had.
static double cpu_seconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static void die(const char* what) {
  perror(what);
  exit(1);
}

// Connects, runs the opening handshake (the key is fixed: the server only has
// to answer 101), and returns the socket with Nagle off.
static int open_ws(const char* host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, host, &addr.sin_addr);
  if (connect(fd, (sockaddr*)&addr, sizeof addr) < 0) die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string req = "GET / HTTP/1.1\r\nHost: " + std::string(host) + ":" + std::to_string(port) +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  if (write(fd, req.data(), req.size()) != (ssize_t)req.size()) die("write handshake");
  std::string resp;
  char buf[1024];
  // Read byte by byte so no frame byte after the head is swallowed.
  while (resp.size() < 4 || resp.compare(resp.size() - 4, 4, "\r\n\r\n") != 0) {
    ssize_t n = read(fd, buf, 1);
    if (n <= 0) die("read handshake");
    resp.append(buf, 1);
    if (resp.size() > 8192) break;
  }
  if (resp.compare(0, 12, "HTTP/1.1 101") != 0) {
    fprintf(stderr, "handshake refused: %s\n", resp.c_str());
    exit(1);
  }
  return fd;
}

static void set_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// One client frame: FIN, opcode, a fixed masking key, SIZE bytes of 'a'.
static std::vector<uint8_t> client_frame(size_t size, bool text) {
  std::vector<uint8_t> f;
  f.push_back(0x80 | (text ? 1 : 2));
  if (size < 126) {
    f.push_back(0x80 | size);
  } else if (size < 65536) {
    f.push_back(0x80 | 126);
    f.push_back(size >> 8);
    f.push_back(size & 0xff);
  } else {
    f.push_back(0x80 | 127);
    for (int i = 7; i >= 0; i--) f.push_back((uint64_t)size >> (8 * i));
  }
  const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
  f.insert(f.end(), key, key + 4);
  for (size_t i = 0; i < size; i++) f.push_back('a' ^ key[i & 3]);
  return f;
}

// The length of the server's unmasked echo of a SIZE-byte message.
static size_t server_frame_len(size_t size) {
  return size + (size < 126 ? 2 : size < 65536 ? 4 : 10);
}

struct Conn {
  int fd;
  uint64_t received = 0;   // bytes
  uint64_t completed = 0;  // whole echoes
  uint64_t sent = 0;       // bytes
  uint64_t to_send = 0;    // bytes queued but not written
  bool want_out = false;
};

static int run_pipeline(const char* host, int port, int conns, int window, size_t size, bool text, double warmup,
                        double seconds) {
  std::vector<uint8_t> frame = client_frame(size, text);
  const size_t flen = frame.size();
  const size_t elen = server_frame_len(size);
  // WINDOW + 1 frames back to back: any run of whole frames starting at any
  // offset (mod flen) is one contiguous slice.
  std::vector<uint8_t> out;
  for (int i = 0; i <= window; i++) out.insert(out.end(), frame.begin(), frame.end());

  int ep = epoll_create1(0);
  std::vector<Conn> cs(conns);
  for (int i = 0; i < conns; i++) {
    cs[i].fd = open_ws(host, port);
    set_nonblocking(cs[i].fd);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    cs[i].to_send = (uint64_t)window * flen;
  }
  auto pump_out = [&](int i) {
    Conn& c = cs[i];
    while (c.to_send > 0) {
      size_t off = c.sent % flen;
      size_t len = std::min<uint64_t>(c.to_send, out.size() - off);
      ssize_t n = write(c.fd, out.data() + off, len);
      if (n < 0) {
        if (errno == EAGAIN) break;
        die("write");
      }
      c.sent += n;
      c.to_send -= n;
    }
    bool want = c.to_send > 0;
    if (want != c.want_out) {
      c.want_out = want;
      epoll_event ev{};
      ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
      ev.data.u32 = i;
      epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
    }
  };
  for (int i = 0; i < conns; i++) pump_out(i);

  std::vector<uint8_t> in(1 << 20);
  std::vector<epoll_event> evs(conns + 1);
  uint64_t total = 0, start_total = 0;
  double t0 = now(), t_measure = t0 + warmup, t_end = t_measure + seconds;
  bool measuring = false;
  double t_start = 0, cpu_start = 0;
  for (;;) {
    int n = epoll_wait(ep, evs.data(), evs.size(), 100);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int k = 0; k < n; k++) {
      int i = evs[k].data.u32;
      Conn& c = cs[i];
      if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        for (;;) {
          ssize_t r = read(c.fd, in.data(), in.size());
          if (r < 0) {
            if (errno == EAGAIN) break;
            die("read");
          }
          if (r == 0) {
            fprintf(stderr, "server closed connection %d\n", i);
            exit(1);
          }
          c.received += r;
          if ((size_t)r < in.size()) break;
        }
        uint64_t done = c.received / elen;
        if (done > c.completed) {
          total += done - c.completed;
          c.to_send += (done - c.completed) * flen;
          c.completed = done;
        }
      }
      pump_out(i);
    }
    double t = now();
    if (!measuring && t >= t_measure) {
      measuring = true;
      start_total = total;
      t_start = t;
      cpu_start = cpu_seconds();
    }
    if (measuring && t >= t_end) {
      uint64_t msgs = total - start_total;
      double secs = t - t_start;
      printf("{\"messages\":%llu,\"seconds\":%.4f,\"rate\":%.1f,\"bytesPerSecond\":%.1f,\"generatorCpu\":%.3f}\n",
             (unsigned long long)msgs, secs, msgs / secs, msgs * (double)size / secs, (cpu_seconds() - cpu_start) / secs);
      return 0;
    }
  }
}

static int run_pingpong(const char* host, int port, size_t size, double warmup, double seconds) {
  std::vector<uint8_t> frame = client_frame(size, false);
  const size_t elen = server_frame_len(size);
  int fd = open_ws(host, port);
  std::vector<uint8_t> in(elen + 65536);
  std::vector<double> samples;
  double t0 = now(), t_measure = t0 + warmup, t_end = t_measure + seconds;
  for (;;) {
    double a = now();
    if (write(fd, frame.data(), frame.size()) != (ssize_t)frame.size()) die("write");
    size_t got = 0;
    while (got < elen) {
      ssize_t r = read(fd, in.data() + got, in.size() - got);
      if (r <= 0) die("read");
      got += r;
    }
    double b = now();
    if (a >= t_measure) samples.push_back((b - a) * 1e6);
    if (b >= t_end) break;
  }
  std::sort(samples.begin(), samples.end());
  auto pct = [&](double p) { return samples[std::min(samples.size() - 1, (size_t)(p * samples.size()))]; };
  printf("{\"count\":%zu,\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,\"max\":%.2f}\n", samples.size(), pct(0.5), pct(0.9),
         pct(0.99), samples.back());
  return 0;
}

static int run_idle(const char* host, int port, int conns) {
  std::vector<int> fds;
  for (int i = 0; i < conns; i++) fds.push_back(open_ws(host, port));
  printf("ready %d\n", conns);
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: see the comment at the top of loadgen.cc\n");
    return 2;
  }
  std::string mode = argv[1];
  const char* host = argv[2];
  int port = atoi(argv[3]);
  if (mode == "pipeline" && argc == 10) {
    return run_pipeline(host, port, atoi(argv[4]), atoi(argv[5]), strtoull(argv[6], 0, 10),
                        std::string(argv[7]) == "text", atof(argv[8]), atof(argv[9]));
  }
  if (mode == "pingpong" && argc == 7) return run_pingpong(host, port, strtoull(argv[4], 0, 10), atof(argv[5]), atof(argv[6]));
  if (mode == "idle" && argc == 5) return run_idle(host, port, atoi(argv[4]));
  fprintf(stderr, "bad arguments\n");
  return 2;
}
