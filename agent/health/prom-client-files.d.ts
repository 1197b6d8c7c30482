// prom-client's own files, which its types do not describe one by one (agent/health/prom.ts
// gives them their types).
declare module 'prom-client/lib/*' {
  const value: unknown;
  export default value;
}
