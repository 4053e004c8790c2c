// Security-matrix rows for SEARCH (part2 §8): anyone may search; what each caller sees is tested in
// search.test.ts (private repositories only for those who can read them).
import { all, type Row } from './matrix.js';

export const rows: Row[] = [
  { method: 'GET', route: '/api/v1/find/repositories', path: (c) => `/api/v1/find/repositories?query=${c.repo.name}`, expect: all(200) },
  { method: 'GET', route: '/api/v1/find/all', path: (c) => `/api/v1/find/all?query=${c.repo.name}`, expect: all(200) },
  {
    method: 'GET', route: '/api/v1/entities/:prefix',
    path: (c) => `/api/v1/entities/${c.alice.username.slice(0, 4)}?namespace=${c.org.username}&includeTeams=true&includeOrgs=true`,
    expect: all(200),
  },
];
