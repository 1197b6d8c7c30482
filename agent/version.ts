// Set by the build (esbuild `define`); 'dev' when run from source.
declare const HERD_VERSION: string | undefined;
export const VERSION: string = typeof HERD_VERSION === 'string' ? HERD_VERSION : 'dev';
