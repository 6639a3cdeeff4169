// The raw TCP ceiling of scenarios (c) and (e) bulk: an echo of the same bytes
// without any WebSocket framing, on the listener streamsock's `serve` uses on
// each runtime (Deno.listen, Bun.listen, node:net), so the gap between this
// and a WebSocket server on the same runtime is what the WebSocket layer costs.
// The load generator speaks raw bytes to it (`loadgen raw`, `client.ts raw`).
// deno-lint-ignore no-explicit-any
const g = globalThis as any;

if (g.Deno !== undefined) {
  // Deno.listen + conn.read into streamsock's bulk read size (64 KiB), write all.
  const listener = g.Deno.listen({ hostname: "127.0.0.1", port: 0, transport: "tcp" });
  console.log(`ready ${listener.addr.port}`);
  for await (const conn of listener) {
    conn.setNoDelay(true);
    (async () => {
      const buffer = new Uint8Array(64 * 1024);
      try {
        for (;;) {
          const n: number | null = await conn.read(buffer);
          if (n === null) break;
          for (let off = 0; off < n;) off += await conn.write(buffer.subarray(off, n));
        }
      } catch { /* the generator went away */ }
      try {
        conn.close();
      } catch { /* already closed */ }
    })();
  }
} else if (g.Bun !== undefined) {
  // Bun.listen: write what the kernel takes now, queue the rest until drain
  // (a copy: Bun's data buffer is only ours during the callback).
  type Sock = { write(b: Uint8Array): number; data: { queue: Uint8Array[] } };
  const flush = (socket: Sock) => {
    const queue = socket.data.queue;
    while (queue.length > 0) {
      const head = queue[0];
      const n = socket.write(head);
      if (n < head.length) {
        queue[0] = head.subarray(Math.max(0, n));
        return;
      }
      queue.shift();
    }
  };
  const listener = g.Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket: Sock) {
        socket.data = { queue: [] };
      },
      data(socket: Sock, data: Uint8Array) {
        if (socket.data.queue.length > 0) {
          socket.data.queue.push(data.slice());
          return;
        }
        const n = socket.write(data);
        if (n < data.length) socket.data.queue.push(data.slice(Math.max(0, n)));
      },
      drain: flush,
    },
  });
  console.log(`ready ${listener.port}`);
} else {
  // node:net: each chunk written back as it comes. No pause on backpressure:
  // the generator has at most one message in flight, which bounds what queues
  // (socket.pipe(socket), pausing at the 16 KiB high-water mark, measured slower).
  const { createServer } = await import("node:net");
  const server = createServer({ noDelay: true }, (socket) => {
    socket.on("error", () => {});
    socket.on("data", (chunk) => socket.write(chunk));
  });
  server.listen(0, "127.0.0.1", () => {
    const address = server.address() as { port: number };
    console.log(`ready ${address.port}`);
  });
}
