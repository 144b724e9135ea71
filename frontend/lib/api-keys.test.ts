import { describe, expect, it } from 'vitest';
import { splitAddresses } from './api-keys';

describe('splitAddresses', () => {
  it('splits on commas and any white space, dropping empties', () => {
    expect(splitAddresses(' 203.0.113.7, 10.0.0.0/8\n::1 ,, ')).toEqual(['203.0.113.7', '10.0.0.0/8', '::1']);
  });
  it('is empty for nothing typed', () => {
    expect(splitAddresses('  ')).toEqual([]);
  });
});
