"""Use a local copy of a file that a tfds builder would download.

On a machine without internet, `place_in_download_cache` puts the file where
tfds's download manager looks for it, after checking it against the sha256
that tfds itself registers for that URL, so `tfds.load` runs the real
builder (its split and feature code) without a network.

Example:

>>> place_in_download_cache("tiny_shakespeare", "input.txt",
...                         data_dir="~/tensorflow_datasets")  # doctest: +SKIP
"""

import hashlib
import os
import shutil

from keras_lm.errors import KerasLMError


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def place_in_download_cache(dataset_name, local_file, data_dir):
    """Seeds `data_dir/downloads` with `local_file` for `dataset_name`.

    The file must match one of the URLs the builder registers (by sha256).
    Returns the path written.
    """
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.download import checksums, resource

    builder_cls = tfds.builder_cls(dataset_name)
    url_infos = builder_cls.url_infos or {}
    checksum = _sha256(local_file)
    matches = [(url, info) for url, info in url_infos.items()
               if info.checksum == checksum]
    if not matches:
        raise KerasLMError(f"{local_file} matches none of the files tfds "
                           f"downloads for {dataset_name} (sha256 {checksum})")
    url, info = matches[0]
    downloads = os.path.join(os.path.expanduser(data_dir), "downloads")
    os.makedirs(downloads, exist_ok=True)
    target = os.path.join(downloads, resource.get_dl_fname(url, checksum))
    shutil.copyfile(local_file, target)
    from etils import epath

    resource.write_info_file(
        url, epath.Path(target), dataset_name,
        info.filename or os.path.basename(local_file),
        checksums.UrlInfo(size=info.size, checksum=checksum,
                          filename=info.filename))
    return target
