/**
 * The browser side of `streamsock.resume.v1`, served by `streamsock serve
 * --broadcast` at {@link RESUME_MODULE_PATH}: a plain JavaScript module (no
 * build step) that the chat page imports, and that any page may.
 *
 * @module
 */

/** Where `serve --broadcast` serves the module. */
export const RESUME_MODULE_PATH = "/_streamsock/resume.js";

/**
 * `ResumingSocket`: the browser's WebSocket, reconnecting with backoff and
 * full jitter, subscribing again after every reconnect from the position of
 * the last message received, and resending every publish the server has
 * not acknowledged (producer id + sequence number per topic: stored once).
 * Messages reach `onMessage(topic, data, position)` once each, in the log's
 * order; `onGap(gap)` reports what the log no longer had.
 */
export const RESUME_BROWSER_MODULE = `// streamsock.resume.v1 for browsers (see docs/resume-protocol.md).
export const PROTOCOL = "streamsock.resume.v1";

const randomId = () =>
  globalThis.crypto?.randomUUID?.() ?? Array.from({ length: 4 }, () => Math.random().toString(36).slice(2, 10)).join("-");

function toWire(data) {
  if (typeof data === "string") return { text: data };
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { base64: btoa(binary) };
}

function fromWire(frame) {
  if (typeof frame.text === "string") return frame.text;
  return Uint8Array.from(atob(frame.base64), (c) => c.charCodeAt(0));
}

export class ResumingSocket {
  #url;
  #options;
  #ws = null;
  #topics = new Map(); // topic -> { from, position }
  #pending = new Map(); // topic -> Map(seq -> { text, resolve, reject })
  #seqs = new Map();
  #failures = 0;
  #timer = null;
  #closed = false;
  producer = randomId();

  constructor(url, options = {}) {
    this.#url = url;
    this.#options = { minDelay: 250, maxDelay: 5000, ...options };
    this.#open();
  }

  get connected() {
    return this.#ws !== null && this.#ws.readyState === WebSocket.OPEN;
  }

  subscribe(topic, from = "now") {
    const state = { from, position: typeof from === "object" ? { ...from } : null };
    this.#topics.set(topic, state);
    if (this.connected) this.#sendSub(topic, state);
  }

  position(topic) {
    const position = this.#topics.get(topic)?.position;
    return position ? { ...position } : undefined;
  }

  publish(topic, data) {
    const seq = (this.#seqs.get(topic) ?? 0) + 1;
    this.#seqs.set(topic, seq);
    const text = JSON.stringify({ op: "pub", topic, producer: this.producer, seq, ...toWire(data) });
    return new Promise((resolve, reject) => {
      if (!this.#pending.has(topic)) this.#pending.set(topic, new Map());
      this.#pending.get(topic).set(seq, { text, resolve, reject });
      if (this.connected) this.#ws.send(text);
    });
  }

  close() {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#ws?.close(1000);
  }

  #status(text) {
    this.#options.onStatus?.(text);
  }

  #sendSub(topic, state) {
    const at = state.position ?? (state.from === "start" ? { offset: 0 } : {});
    this.#ws.send(JSON.stringify({ op: "sub", topic, ...at }));
  }

  #open() {
    const ws = new WebSocket(this.#url, PROTOCOL);
    this.#ws = ws;
    ws.onopen = () => {
      if (ws.protocol !== PROTOCOL) {
        this.#status("the server does not speak " + PROTOCOL);
        this.#closed = true;
        ws.close(1000);
        return;
      }
      this.#failures = 0;
      this.#status("connected to " + this.#url);
      // In this order: subscriptions, then every unacknowledged publish, oldest first.
      for (const [topic, state] of this.#topics) this.#sendSub(topic, state);
      for (const queue of this.#pending.values()) for (const pending of queue.values()) ws.send(pending.text);
    };
    ws.onmessage = (event) => {
      if (typeof event.data === "string") this.#receive(JSON.parse(event.data));
    };
    ws.onclose = (event) => {
      if (this.#ws === ws) this.#ws = null;
      if (this.#closed) return this.#status("closed (" + event.code + ")");
      const ceiling = Math.min(this.#options.maxDelay, this.#options.minDelay * 2 ** this.#failures++);
      const delay = Math.round(Math.random() * ceiling);
      this.#status("disconnected (" + event.code + "), reconnecting in " + delay + " ms");
      this.#timer = setTimeout(() => this.#open(), delay);
    };
  }

  #receive(frame) {
    const state = this.#topics.get(frame.topic);
    switch (frame.op) {
      case "subscribed":
        if (state && frame.epoch !== undefined) state.position = { epoch: frame.epoch, offset: frame.offset };
        return;
      case "msg": {
        if (!state) return;
        const at = state.position;
        if (at && at.epoch === frame.epoch && frame.offset <= at.offset) return; // already shown
        state.position = { epoch: frame.epoch, offset: frame.offset };
        this.#options.onMessage?.(frame.topic, fromWire(frame), { ...state.position });
        return;
      }
      case "gap":
        if (!state) return;
        state.position = frame.reason === "epoch" ? { epoch: frame.next, offset: 0 } : { epoch: frame.epoch, offset: frame.to };
        this.#options.onGap?.(frame);
        return;
      case "ack":
      case "nack": {
        const pending = this.#pending.get(frame.topic)?.get(frame.seq);
        if (frame.producer !== this.producer || !pending) return;
        this.#pending.get(frame.topic).delete(frame.seq);
        if (frame.op === "ack") pending.resolve(frame);
        else pending.reject(new Error(frame.reason));
        return;
      }
    }
  }
}
`;
