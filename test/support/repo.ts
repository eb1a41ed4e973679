// Tests find fixtures and deploy/ through these; the implementation lives with the lab.
export { repoPath, repoRoot } from '../../lab/repo.js';
