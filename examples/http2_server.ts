// A page and its WebSocket from one HTTP/2 server (RFC 8441): browsers that
// load the page over HTTP/2 open `new WebSocket("wss://<this origin>/echo")`
// as a stream on the same TLS connection; HTTP/1.1 clients still upgrade.
// One node:http2 server, so it runs unchanged on Node, Deno and Bun.
//
//   CERT=cert.pem KEY=key.pem npx tsx examples/http2_server.ts
//   CERT=cert.pem KEY=key.pem deno run -A examples/http2_server.ts
//   CERT=cert.pem KEY=key.pem bun examples/http2_server.ts
//
// (a self-signed pair: openssl req -x509 -newkey rsa:2048 -nodes -days 7
//  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1
//  -keyout key.pem -out cert.pem). PORT (default 8443) and HOST (default
// 127.0.0.1) come from the environment.
import { readFileSync } from "node:fs";
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import process from "node:process";
import { http2Handler, requestHandler } from "../mod.ts";

const PAGE = `<!doctype html>
<meta charset="utf-8"><title>streamsock over HTTP/2</title>
<input id="text" value="hello"> <button id="send">send</button>
<pre id="log"></pre>
<script>
  const log = (line) => (document.getElementById("log").textContent += line + "\\n");
  const ws = new WebSocket(\`wss://\${location.host}/echo\`);
  ws.onopen = () => log("open");
  ws.onmessage = (event) => log("echo: " + event.data);
  ws.onclose = (event) => log("closed " + event.code);
  document.getElementById("send").onclick = () => ws.send(document.getElementById("text").value);
</script>
`;

const server = createSecureServer({
  cert: readFileSync(process.env.CERT ?? "cert.pem"),
  key: readFileSync(process.env.KEY ?? "key.pem"),
  allowHTTP1: true, // HTTP/1.1 clients get the page and upgrade as usual
  settings: { enableConnectProtocol: true }, // RFC 8441 §3: without it browsers never use HTTP/2 for WebSockets
});

const websocket = requestHandler(async (ws, request) => {
  console.log(`WebSocket over HTTP/${request.httpVersion} to ${request.url}`);
  for await (const msg of ws) await ws.sendAll(msg);
});

server.on("request", (req: Http2ServerRequest, res: Http2ServerResponse) => {
  res.setHeader("content-type", "text/html; charset=utf-8");
  res.end(req.url === "/" ? PAGE : "Not found\n");
});
// With a "request" listener, Node answers every extended CONNECT that no
// "connect" listener takes with 405 (nodejs/node#36977): take them here.
server.on("connect", http2Handler(websocket));
server.on("upgrade", websocket);

server.listen(Number(process.env.PORT ?? 8443), process.env.HOST ?? "127.0.0.1", () => {
  const { address, port } = server.address() as { address: string; port: number };
  console.log(`open https://${address}:${port}/`);
});
const stop = () => server.close();
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
