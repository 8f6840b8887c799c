// Entry point of bin/witnessd.
import { main } from './cli.ts';

await main();
