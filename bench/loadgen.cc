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
//   loadgen raw HOST PORT CONNS WINDOW SIZE WARMUP_S SECONDS
//       the raw TCP ceiling: like pipeline without WebSocket (no handshake,
//       no frame headers), against bench/servers/raw_tcp_echo.ts
//   loadgen pingpong HOST PORT SIZE WARMUP_S SECONDS
//       one connection, one message in flight; prints latency percentiles in us
//   loadgen idle HOST PORT CONNS
//       opens CONNS connections, prints "ready N" and holds them until stdin closes
//   loadgen deflate HOST PORT CONNS WINDOW SIZE WARMUP_S SECONDS
//       scenario (f), permessage-deflate: like pipeline with a SIZE-byte
//       JSON-like text message, offered with
//       "permessage-deflate; client_no_context_takeover; server_no_context_takeover"
//       (fails unless the 101 accepts exactly that), sent as one precomputed
//       compressed frame (raw deflate, sync flush, 00 00 ff ff removed: with
//       no client context takeover every message compresses alike). Each
//       connection first checks one echo (RSV1 set, inflates to the payload);
//       then replies are counted by parsing frame headers, and a reply
//       without RSV1 fails the run. Prints rate, bytesPerSecond (uncompressed
//       payload) and replyBytes (wire bytes per echoed message)
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
#include <zlib.h>

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

// Connects and returns the socket with Nagle off.
static int open_tcp(const char* host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, host, &addr.sin_addr);
  if (connect(fd, (sockaddr*)&addr, sizeof addr) < 0) die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Connects, runs the opening handshake (the key is fixed: the server only has
// to answer 101), and returns the socket with Nagle off.
static int open_ws(const char* host, int port, const char* extensions = nullptr) {
  int fd = open_tcp(host, port);
  std::string req = "GET / HTTP/1.1\r\nHost: " + std::string(host) + ":" + std::to_string(port) +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
                    (extensions ? "Sec-WebSocket-Extensions: " + std::string(extensions) + "\r\n" : "") + "\r\n";
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
  if (extensions) {
    // The answer must accept permessage-deflate with both no-context-takeover
    // parameters and nothing else: any other outcome would measure something else.
    std::string lower;
    for (char ch : resp) lower += (char)tolower((unsigned char)ch);
    size_t at = lower.find("\r\nsec-websocket-extensions:");
    std::string value;
    if (at != std::string::npos) {
      size_t from = at + 28, to = lower.find("\r\n", from);
      for (size_t i = from; i < to; i++)
        if (lower[i] != ' ' && lower[i] != '\t') value += lower[i];
    }
    std::vector<std::string> params;
    size_t p = 0;
    while (p <= value.size()) {
      size_t q = value.find(';', p);
      if (q == std::string::npos) q = value.size();
      params.push_back(value.substr(p, q - p));
      p = q + 1;
    }
    std::sort(params.begin() + (params.empty() ? 0 : 1), params.end());
    if (params.size() != 3 || params[0] != "permessage-deflate" || params[1] != "client_no_context_takeover" ||
        params[2] != "server_no_context_takeover") {
      fprintf(stderr, "permessage-deflate not negotiated as offered (got \"%s\"):\n%s", value.c_str(), resp.c_str());
      exit(1);
    }
  }
  return fd;
}

static void set_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// One client frame: FIN, opcode, a fixed masking key, SIZE bytes of 'a'
// (or the given payload, with RSV1 when it is compressed).
static std::vector<uint8_t> client_frame(size_t size, bool text, const std::vector<uint8_t>* payload = nullptr,
                                         bool rsv1 = false) {
  if (payload) size = payload->size();
  std::vector<uint8_t> f;
  f.push_back(0x80 | (rsv1 ? 0x40 : 0) | (text ? 1 : 2));
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
  for (size_t i = 0; i < size; i++) f.push_back((payload ? (*payload)[i] : 'a') ^ key[i & 3]);
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

// raw: no WebSocket at all (the raw TCP ceiling): no handshake, each "message"
// is SIZE bytes of 'a' and its echo the same SIZE bytes.
static int run_pipeline(const char* host, int port, int conns, int window, size_t size, bool text, double warmup,
                        double seconds, bool raw = false) {
  std::vector<uint8_t> frame = raw ? std::vector<uint8_t>(size, 'a') : client_frame(size, text);
  const size_t flen = frame.size();
  const size_t elen = raw ? size : server_frame_len(size);
  // WINDOW + 1 frames back to back: any run of whole frames starting at any
  // offset (mod flen) is one contiguous slice.
  std::vector<uint8_t> out;
  for (int i = 0; i <= window; i++) out.insert(out.end(), frame.begin(), frame.end());

  int ep = epoll_create1(0);
  std::vector<Conn> cs(conns);
  for (int i = 0; i < conns; i++) {
    cs[i].fd = raw ? open_tcp(host, port) : open_ws(host, port);
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

// ------------------------------------------------------- (f) permessage-deflate

static const char* DEFLATE_OFFER = "permessage-deflate; client_no_context_takeover; server_no_context_takeover";

// A JSON-like text message of exactly SIZE bytes: an array of event records
// with pseudo-random ids, names, numbers and flags, compressible as real JSON
// traffic is (about 3-5x), not as a run of one letter.
static std::vector<uint8_t> json_payload(size_t size) {
  static const char* events[] = {"click", "view", "scroll", "purchase", "login", "logout", "search", "share"};
  static const char* names[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"};
  uint32_t x = 12345;
  auto rnd = [&]() { return x = x * 1103515245u + 12345u, (x >> 8) & 0xffffff; };
  std::string s = "[";
  while (s.size() < size) {
    char rec[256];
    snprintf(rec, sizeof rec,
             "%s{\"id\":%u,\"user\":\"%s%u\",\"event\":\"%s\",\"ts\":17000%08u,\"score\":%u.%02u,\"ok\":%s,"
             "\"tags\":[\"%s\",\"t%u\"]}",
             s.size() > 1 ? "," : "", rnd() % 1000000, names[rnd() % 10], rnd() % 1000, events[rnd() % 8],
             rnd() % 100000000, rnd() % 1000, rnd() % 100, rnd() % 2 ? "true" : "false", events[rnd() % 8], rnd() % 50);
    s += rec;
  }
  // Cut to SIZE and close the array (the last record may be cut short: the
  // message is JSON-like ASCII text, which is all the servers look at).
  s.resize(size - 1);
  s += "]";
  return std::vector<uint8_t>(s.begin(), s.end());
}

// Raw deflate (15-bit window, zlib's default level), sync flush, the trailing
// 00 00 ff ff removed (RFC 7692 §7.2.1).
static std::vector<uint8_t> deflate_message(const std::vector<uint8_t>& in) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) die("deflateInit2");
  std::vector<uint8_t> out(in.size() + 1024);
  z.next_in = (Bytef*)in.data();
  z.avail_in = in.size();
  z.next_out = out.data();
  z.avail_out = out.size();
  if (deflate(&z, Z_SYNC_FLUSH) != Z_OK || z.avail_in != 0) die("deflate");
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  if (out.size() < 4 || memcmp(out.data() + out.size() - 4, "\x00\x00\xff\xff", 4) != 0) die("deflate tail");
  out.resize(out.size() - 4);
  return out;
}

static bool inflate_equals(const std::vector<uint8_t>& compressed, const std::vector<uint8_t>& expected) {
  std::vector<uint8_t> in(compressed);
  in.insert(in.end(), {0x00, 0x00, 0xff, 0xff});
  z_stream z{};
  if (inflateInit2(&z, -15) != Z_OK) die("inflateInit2");
  std::vector<uint8_t> out(expected.size() + 1024);
  z.next_in = in.data();
  z.avail_in = in.size();
  z.next_out = out.data();
  z.avail_out = out.size();
  int rc = inflate(&z, Z_SYNC_FLUSH);
  size_t got = out.size() - z.avail_out;
  inflateEnd(&z);
  return (rc == Z_OK || rc == Z_STREAM_END) && got == expected.size() && memcmp(out.data(), expected.data(), got) == 0;
}

static void read_exact(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) die("read reply");
    p += r;
    n -= r;
  }
}

// Sends one message on a fresh (blocking) connection and checks the echo: one
// or more frames, RSV1 on the first, text, unmasked, inflating to the payload.
// Returns the echo's length on the wire.
static size_t check_echo(int fd, const std::vector<uint8_t>& frame, const std::vector<uint8_t>& payload) {
  if (write(fd, frame.data(), frame.size()) != (ssize_t)frame.size()) die("write");
  std::vector<uint8_t> data;
  size_t wire = 0;
  bool first = true, rsv1 = false;
  for (;;) {
    uint8_t h[2];
    read_exact(fd, h, 2);
    uint64_t len = h[1] & 0x7f;
    size_t hl = 2;
    if (len == 126 || len == 127) {
      uint8_t e[8];
      size_t n = len == 126 ? 2 : 8;
      read_exact(fd, e, n);
      len = 0;
      for (size_t i = 0; i < n; i++) len = len << 8 | e[i];
      hl += n;
    }
    int opcode = h[0] & 0x0f;
    if ((h[1] & 0x80) || opcode != (first ? 1 : 0) || len > (64u << 20)) {
      fprintf(stderr, "unexpected echo frame: %02x %02x, length %llu\n", h[0], h[1], (unsigned long long)len);
      exit(1);
    }
    if (first) rsv1 = h[0] & 0x40;
    size_t at = data.size();
    data.resize(at + len);
    read_exact(fd, data.data() + at, len);
    wire += hl + len;
    first = false;
    if (h[0] & 0x80) break;
  }
  if (!rsv1) {
    fprintf(stderr, "the echo is not compressed (RSV1 clear, %zu bytes)\n", data.size());
    exit(1);
  }
  if (!inflate_equals(data, payload)) {
    fprintf(stderr, "the echo does not inflate to the message sent\n");
    exit(1);
  }
  return wire;
}

struct DConn {
  int fd;
  uint64_t sent = 0, to_send = 0, completed = 0;
  bool want_out = false;
  // Reply parsing: bytes of the frame header gathered so far, then payload bytes left.
  uint8_t head[14];
  size_t head_len = 0;
  uint64_t skip = 0;
  bool in_message = false;
};

static int run_deflate(const char* host, int port, int conns, int window, size_t size, double warmup, double seconds) {
  const std::vector<uint8_t> payload = json_payload(size);
  const std::vector<uint8_t> compressed = deflate_message(payload);
  const std::vector<uint8_t> frame = client_frame(0, true, &compressed, true);
  const size_t flen = frame.size();
  std::vector<uint8_t> out;
  for (int i = 0; i <= window; i++) out.insert(out.end(), frame.begin(), frame.end());

  int ep = epoll_create1(0);
  std::vector<DConn> cs(conns);
  size_t echo_len = 0;
  for (int i = 0; i < conns; i++) {
    cs[i].fd = open_ws(host, port, DEFLATE_OFFER);
    size_t len = check_echo(cs[i].fd, frame, payload);
    if (i == 0) echo_len = len;
    set_nonblocking(cs[i].fd);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    cs[i].to_send = (uint64_t)window * flen;
  }
  auto pump_out = [&](int i) {
    DConn& c = cs[i];
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

  // Walks the frames in buf: counts whole messages, fails on a reply that is
  // not compressed or on anything but text/continuation frames.
  auto parse = [&](DConn& c, const uint8_t* p, size_t n) {
    uint64_t done = 0;
    while (n > 0) {
      if (c.skip > 0) {
        size_t k = std::min<uint64_t>(c.skip, n);
        c.skip -= k;
        p += k;
        n -= k;
        continue;
      }
      c.head[c.head_len++] = *p++;
      n--;
      if (c.head_len < 2) continue;
      size_t need = (c.head[1] & 0x7f) == 126 ? 4 : (c.head[1] & 0x7f) == 127 ? 10 : 2;
      if (c.head_len < need) continue;
      uint64_t len = c.head[1] & 0x7f;
      if (need > 2) {
        len = 0;
        for (size_t i = 2; i < need; i++) len = len << 8 | c.head[i];
      }
      int opcode = c.head[0] & 0x0f;
      bool fin = c.head[0] & 0x80, rsv1 = c.head[0] & 0x40;
      if (opcode != (c.in_message ? 0 : 1) || (c.head[1] & 0x80) || (!c.in_message && !rsv1)) {
        fprintf(stderr, "unexpected reply frame %02x %02x (uncompressed, control or masked)\n", c.head[0], c.head[1]);
        exit(1);
      }
      c.in_message = !fin;
      if (fin) done++;
      c.skip = len;
      c.head_len = 0;
    }
    return done;
  };

  std::vector<uint8_t> in(1 << 20);
  std::vector<epoll_event> evs(conns + 1);
  uint64_t total = 0, start_total = 0, wire = 0, start_wire = 0;
  double t0 = now(), t_measure = t0 + warmup, t_end = t_measure + seconds;
  bool measuring = false;
  double t_start = 0, cpu_start = 0;
  for (;;) {
    int n = epoll_wait(ep, evs.data(), evs.size(), 100);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int k = 0; k < n; k++) {
      int i = evs[k].data.u32;
      DConn& c = cs[i];
      if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        uint64_t done = 0;
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
          wire += r;
          done += parse(c, in.data(), r);
          if ((size_t)r < in.size()) break;
        }
        if (done > 0) {
          total += done;
          c.completed += done;
          c.to_send += done * flen;
        }
      }
      pump_out(i);
    }
    double t = now();
    if (!measuring && t >= t_measure) {
      measuring = true;
      start_total = total;
      start_wire = wire;
      t_start = t;
      cpu_start = cpu_seconds();
    }
    if (measuring && t >= t_end) {
      uint64_t msgs = total - start_total;
      double secs = t - t_start;
      printf(
          "{\"messages\":%llu,\"seconds\":%.4f,\"rate\":%.1f,\"bytesPerSecond\":%.1f,\"generatorCpu\":%.3f,"
          "\"payloadBytes\":%zu,\"requestBytes\":%zu,\"replyBytes\":%.1f,\"firstReplyBytes\":%zu}\n",
          (unsigned long long)msgs, secs, msgs / secs, msgs * (double)size / secs, (cpu_seconds() - cpu_start) / secs,
          size, flen, msgs ? (wire - start_wire) / (double)msgs : 0.0, echo_len);
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
  if (mode == "raw" && argc == 9) {
    return run_pipeline(host, port, atoi(argv[4]), atoi(argv[5]), strtoull(argv[6], 0, 10), false, atof(argv[7]),
                        atof(argv[8]), true);
  }
  if (mode == "pingpong" && argc == 7) return run_pingpong(host, port, strtoull(argv[4], 0, 10), atof(argv[5]), atof(argv[6]));
  if (mode == "deflate" && argc == 9) {
    return run_deflate(host, port, atoi(argv[4]), atoi(argv[5]), strtoull(argv[6], 0, 10), atof(argv[7]), atof(argv[8]));
  }
  if (mode == "idle" && argc == 5) return run_idle(host, port, atoi(argv[4]));
  fprintf(stderr, "bad arguments\n");
  return 2;
}
