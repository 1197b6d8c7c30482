// Entry point of dist/herd.mjs. Commands other than `agent` return; exiting explicitly
// keeps idle keep-alive sockets from holding the process open.
import { main } from './main.ts';

process.exit(await main(process.argv));
