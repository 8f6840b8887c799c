// Entry point of bin/witness-agent.
import { main } from './cli.ts';

await main();
