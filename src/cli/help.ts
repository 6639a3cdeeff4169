/**
 * The `streamsock` command's help texts.
 *
 * @module
 */

export const MAIN_HELP = `streamsock: a WebSocket client and server on Deno, Bun and Node

Usage:
  streamsock connect <url> [options]   talk to a WebSocket server (stdin -> messages -> stdout)
  streamsock serve [options]           run an echo or broadcast (chat) server
  streamsock <command> --help          the options of a command
  streamsock --version                 the version

Exit codes:
  0  the connection closed cleanly (1000, 1001 or no status code)
  1  it closed abnormally or with another code; the server could not listen
  2  usage error
  3  could not connect: DNS, TCP, TLS or the opening handshake failed
`;

export const CONNECT_HELP = `Usage: streamsock connect <url> [options]

Connects to a ws:// or wss:// URL (a URL without a scheme, such as
127.0.0.1:8080, means ws://). Each line of stdin is sent as a text message
(--binary: as a binary message of the line's bytes); once stdin has ended and
no message arrived for --wait (1s), the connection is closed with 1000.
Received messages are printed to stdout, one per line, with their type:
  < text: hello
  < binary (3 bytes): 010203
  < ping (0 bytes)
  < close 1000: bye
Pongs (answers to pings) are printed as "< pong" only for /ping. Status lines,
errors and the --verbose trace go to stderr.

Commands (a line of stdin that starts with one of these; "//" sends a line
starting with "/" as it is):
  /ping [data]              send a ping (its pong is printed)
  /close [code [reason]]    close with that code (default 1000) and reason
  /binary <hex>             send a binary message of those bytes
  /quit                     close with 1000 and exit

Options:
  -p, --protocol <name>     subprotocol to offer; repeat or comma-separate for several
  -H, --header <name: value>
                            extra request header field (repeatable)
      --auth <user:password | value>
                            Authorization: basic auth from user:password, otherwise the raw value
                            (e.g. "Bearer abc")
      --origin <origin>     the Origin header field
      --ca <file>           PEM certificate(s) to trust for wss:// instead of the system's
      --cert <file>         PEM client certificate for wss:// (needs --key)
      --key <file>          PEM private key of --cert
  -k, --insecure            accept any server certificate (testing only)
      --max-frame-size <bytes>
                            largest frame sent or accepted (default 1048576; k/m suffixes allowed)
      --ping <duration>     keepalive: ping after this much silence (default 20s); no answer
                            within as long again closes with 1011 (exit 1); 0 for none
      --timeout <duration>  limit for connecting and the opening handshake (default 30s)
      --wait <duration>     after stdin ends, close once nothing arrived for this long (default 1s;
                            0 closes at once, and a server may then drop its last replies)
  -b, --binary              send stdin lines as binary messages
  -x, --execute <message>   one shot: send this text message, print the first message that
                            answers it, close with 1000 (exit 1 when none came within --timeout)
      --reconnect           keep reconnecting (backoff with jitter) when the connection drops or
                            cannot be made; stdin lines go to the current connection
      --resume              reconnect and resume a durable topic (streamsock.resume.v1, e.g. of
                            serve --broadcast): every message once, in order, gaps on stderr;
                            each stdin line is published once, resent until acknowledged
      --topic <name>        with --resume: the topic (default: the URL's path)
      --from <start|now>    with --resume: begin with the oldest kept message, or the next
                            one (default now)
      --proxy <url>         go through an http://, https://, socks5:// or socks5h:// proxy
                            (user:password@ in it authenticates; --ca and --insecure apply to
                            an https:// proxy's certificate too). Without it HTTPS_PROXY,
                            HTTP_PROXY, WS_PROXY, WSS_PROXY, ALL_PROXY and NO_PROXY apply
      --timestamps          prefix each received message with the time it arrived (ISO 8601)
      --json                print text messages that are JSON pretty-printed
  -v, --verbose             trace every frame on stderr: direction, opcode, FIN, RSV, length,
                            masking key and a payload preview
  -h, --help                this help

Durations: 500ms, 2s, 1m; a bare number means seconds.

Exit codes: 0 clean close (1000, 1001, none), 1 abnormal close or another code,
2 usage error, 3 could not connect (the message says what the server answered).
`;

export const SERVE_HELP = `Usage: streamsock serve [options]

Runs a WebSocket server until Ctrl-C (SIGINT) or SIGTERM, then closes every
connection with 1001; on SIGTERM it drains: new upgrades get 503 with
Retry-After (plain HTTP is still answered) until the connections closed or 5 s. Prints its address, then connections as they come and go
and the messages they send:
  listening on ws://127.0.0.1:8080/ (echo)
  [#1] open from 127.0.0.1: GET /chat
  [#1] < text: hello
  [#1] closed 1000

Options:
      --port <port>         port to listen on; 0 picks a free one (default 8080)
      --host <address>      address to bind (default 127.0.0.1; 0.0.0.0 for every interface)
      --echo                send every message back to its sender (the default)
      --broadcast           topics: every message goes to every other client on the same
                            URL path (a chat room per path); a plain HTTP GET gets a chat page
      --redis <url>         with --broadcast: span the rooms over every server using this
                            Redis (redis://host:port), through streamsock/redis (npm install redis)
      --workers <n>         with --broadcast: run n server processes sharing the port
                            (SO_REUSEPORT: Linux on Node >= 22.12, Deno, Bun); needs --redis.
                            SIGHUP restarts them one by one: a new worker listens, then the
                            old one drains (SIGTERM) and exits
      --max-len <n>         with --broadcast: rooms are durable topics keeping the last n
                            messages (default 1000; in Redis Streams with --redis, else in
                            memory) for resuming clients and the chat page; 0: plain topics
      --max-age <duration>  with --broadcast: and only messages younger than this (default: any)
      --cert <file>         PEM certificate chain: serve wss:// (needs --key)
      --key <file>          PEM private key of --cert
      --metrics             answer GET /metrics on the same port with the server's counters
                            in the Prometheus text format (with --workers: each worker's own)
  -p, --protocol <name>     subprotocol to accept when a client offers it; repeat or
                            comma-separate for several, in order of preference
      --max-frame-size <bytes>
                            largest frame accepted or sent (default 1048576)
  -v, --verbose             trace every frame on stdout, prefixed by its connection:
                            direction, opcode, FIN, RSV, length, masking key, payload preview
  -h, --help                this help

Exit codes: 0 after a shutdown by signal, 1 when it cannot listen, 2 usage error.
`;
