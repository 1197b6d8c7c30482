// node:http and node:https as CommonJS-style module objects. Not `import http from
// 'node:http'`: an ES import of node:http builds its module namespace, which reads http's
// lazy WebSocket and MessageEvent getters, which load undici and compile its WebAssembly
// HTTP parser: 13.7 MB of resident memory for a client herd never uses (measured with
// Node 24.21; the same require()d costs 3 MB).
export const http = process.getBuiltinModule('node:http');
export const https = process.getBuiltinModule('node:https');
