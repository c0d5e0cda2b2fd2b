// benches/stdio_loopback.mjs: preloaded with `node --import` by
// benches/compare_stdio.sh so that supergateway listens on 127.0.0.1 only.
// supergateway calls `app.listen(port)` with no host, which binds every
// interface (`*:PORT`), and it has no option to choose one. This runs once, at
// listen time, so it costs nothing per request. STDIO_BIND_HOST overrides.
import net from "node:net";

const HOST = process.env.STDIO_BIND_HOST || "127.0.0.1";
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function (...args) {
  const [first] = args;
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, callback]): add a host when none is given.
    if (typeof args[1] !== "string") args.splice(1, 0, HOST);
  } else if (first && typeof first === "object" && first.path === undefined &&
             first.handle === undefined && first._handle === undefined && first.fd === undefined) {
    if (!first.host) args[0] = { ...first, host: HOST };
  } else if (args.length === 0 || typeof first === "function") {
    args.unshift(0, HOST);
  }
  return listen.apply(this, args);
};
