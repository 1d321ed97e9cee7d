// Helpers of the book end-to-end tests: a copy of the sample book, generated chapters that take
// a while to index, and a bookmcp server over stdio serving a book.

import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { bookmcpBinary, connectStdio } from './helpers.mjs';

export const SAMPLE_BOOK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples/book/docs');
export const SAMPLE_DOCUMENTS = 5;

export function copySampleBook(dir) {
  const docs = path.join(dir, 'docs');
  cpSync(SAMPLE_BOOK, docs, { recursive: true });
  return docs;
}

// `count` chapters under `folder`, each a few KB of distinct text.
export function generateChapters(folder, count) {
  mkdirSync(folder, { recursive: true });
  for (let i = 0; i < count; i += 1) {
    let text = `---\ntitle: Generated chapter ${i}\n---\n\n# Chapter ${i}\n\n`;
    for (let section = 0; section < 6; section += 1) {
      text += `## Section ${section}\n\n`;
      for (let line = 0; line < 8; line += 1) {
        text += `Servo number ${i * 100 + section} drives the gripper joint with torque control and encoder feedback, line ${line}.\n`;
      }
      text += '\n';
    }
    writeFileSync(path.join(folder, `chapter-${String(i).padStart(4, '0')}.md`), text);
  }
}

export function connectBook({ dataDir, docs, args = [], env }) {
  return connectStdio({
    command: bookmcpBinary(),
    args: ['--stdio', '--data-dir', dataDir, ...docs.flatMap((dir) => ['--docs', dir]), ...args],
    ...(env ? { env } : {}),
  });
}
