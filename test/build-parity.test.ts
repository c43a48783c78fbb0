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
  const list = (name: string) => new RegExp(`set\\(${name}([\\s\\S]*?)\\)`).exec(cmake)![1].split(/\s+/).filter(Boolean);
  const core = list('PATHWISE_CORE_SOURCES');
  const addon = list('PATHWISE_ADDON_SOURCES');
  // The addon library is built from its list (plus CMake variables such as ${CMAKE_JS_SRC}).
  expect(cmake).toMatch(/add_library\(pathwise SHARED \$\{PATHWISE_ADDON_SOURCES\}/);
  expect(addon.length).toBeGreaterThan(0);
  expect([...core, ...addon].sort()).toEqual([...gypSources].sort());
});
