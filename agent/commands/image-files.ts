// The repository files `herd user-data` puts on an instance: the user-data template, the
// systemd unit and the install script. The build inlines them (scripts/build.mjs, esbuild
// `define`), so the one executable carries them; run from source they are not there.
import { UsageError } from '../errors.ts';

export interface ImageFiles {
  /** ami/user-data.yaml */
  userData: string;
  /** packaging/herd-agent.service */
  unit: string;
  /** ami/install-agent.py */
  installScript: string;
}

/** Where each file lives in the repository, for the build and the tests. */
export const IMAGE_FILE_PATHS: Readonly<Record<keyof ImageFiles, string>> = {
  userData: 'ami/user-data.yaml',
  unit: 'packaging/herd-agent.service',
  installScript: 'ami/install-agent.py',
};

declare const HERD_IMAGE_FILES: ImageFiles | undefined;

/** The inlined files; UsageError when this program was not built with them. */
export function imageFiles(): ImageFiles {
  if (typeof HERD_IMAGE_FILES === 'object' && HERD_IMAGE_FILES !== null) return HERD_IMAGE_FILES;
  throw new UsageError('this herd was run from source: the image files are inlined by the build (npm run build)');
}
