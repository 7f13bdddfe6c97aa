// vitest globalSetup: builds the web console from its sources first, so servers under test serve
// what src/ui says now and not what `npm install` built.
import { buildConsole } from '../../src/ui/build.js';

export default async function setup(): Promise<void> {
  await buildConsole();
}
