import { packageConfig } from '../../tsup.shared';

export default packageConfig(['src/index.ts', 'src/processor.ts', 'src/child-host.ts']);
