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
  // The addon's own files, without CMake variables such as ${CMAKE_JS_SRC}.
  const addon = /add_library\(pathwise SHARED ([^)]*)\)/.exec(cmake)![1].split(/\s+/).filter((f) => f && !f.startsWith('$'));
  expect([...core, ...addon].sort()).toEqual([...gypSources].sort());
});
