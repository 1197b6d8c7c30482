// Entry point of dist/herd.mjs and of the single executable dist/herd. Commands other than
// `agent` return; exiting explicitly keeps idle keep-alive sockets from holding the process
// open. No top-level await: the executable embeds this as CommonJS (scripts/sea.mjs).
import { main } from './main.ts';

void main(process.argv).then((code) => process.exit(code));
