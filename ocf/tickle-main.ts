// Entry point of the installed tickle agent (/usr/lib/ocf/resource.d/witness/tickle runs this file).
import { main } from './tickle.ts';

process.exit(await main());
