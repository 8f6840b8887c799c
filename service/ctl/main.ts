// Entry point of bin/witnessctl.
import { main } from './cli.ts';

await main();
