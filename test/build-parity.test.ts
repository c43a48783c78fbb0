// binding.gyp (what `npm install` and prebuildify build) and CMakeLists.txt (what CI, sanitizer and
// native test builds use) must compile the same sources.
import { it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');

it('binding.gyp and CMakeLists.txt list the same native sources', () => {
  const gyp = JSON.parse(readFileSync(join(root, 'binding.gyp'), 'utf8'));
  const gypSources: string[] = gyp.targets[0].sources;
  const cmake = readFileSync(join(root, 'CMakeLists.txt'), 'utf8');
  const core = /set\(PATHWISE_CORE_SOURCES([\s\S]*?)\)/.exec(cmake)![1].split(/\s+/).filter(Boolean);
  const addon = /add_library\(pathwise SHARED ([^\s)]+)/.exec(cmake)![1];
  expect([...core, addon].sort()).toEqual([...gypSources].sort());
});
