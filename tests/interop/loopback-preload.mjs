// Preloaded with `node --import` to force every TCP listener in the process
// onto 127.0.0.1. server-everything's streamableHttp transport calls
// `app.listen(process.env.PORT)` with no host, which would bind all
// interfaces, and it has no HOST/--host option; this pins it to loopback.
import net from "node:net";

const HOST = process.env.INTEROP_BIND_HOST || "127.0.0.1";
const origListen = net.Server.prototype.listen;

function isPort(v) {
  return typeof v === "number" || (typeof v === "string" && /^\d+$/.test(v));
}

net.Server.prototype.listen = function (...args) {
  if (args.length > 0 && isPort(args[0])) {
    // listen(port[, host][, backlog][, cb]): insert host when none is given.
    if (typeof args[1] !== "string") args.splice(1, 0, HOST);
  } else if (args.length > 0 && args[0] && typeof args[0] === "object" &&
             !Array.isArray(args[0]) && args[0].path === undefined &&
             args[0].handle === undefined && args[0]._handle === undefined &&
             args[0].fd === undefined) {
    if (!args[0].host) args[0] = { ...args[0], host: HOST };
  } else if (args.length === 0 || typeof args[0] === "function") {
    // listen() / listen(cb): random port on all interfaces -> loopback.
    args.unshift(0, HOST);
  }
  return origListen.apply(this, args);
};
