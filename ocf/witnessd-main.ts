// Entry point of the installed agent (/usr/lib/ocf/resource.d/witness/witnessd runs this file).
import { main } from './witnessd.ts';

process.exit(await main());
