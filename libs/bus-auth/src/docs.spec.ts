import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workspaceRoot } from '@splitlet/testing';
import { permissionTableMarkdown } from './permissions';

describe('permission table docs', () => {
  it('permission table - docs/architecture.md shows the table the identities are minted from', async () => {
    const page = await readFile(join(workspaceRoot(), 'docs/architecture.md'), 'utf8');
    // Regenerate with `tools/bus-creds table` when the table changes.
    expect(page).toContain(permissionTableMarkdown());
  });
});
