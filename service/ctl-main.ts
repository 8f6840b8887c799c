// Entry point of bin/witnessctl.
import { main } from './ctl.ts';

await main();
