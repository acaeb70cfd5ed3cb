// Manifest files from the file system: the one reader behind `tided --manifests PATH` and
// `tidectl apply -f PATH` / `tidectl delete -f PATH` (which adds "-" for standard input).
//
// The rule (docs/manifests.md, "Files and directories"):
//  - PATH naming a file: that file, whatever its name.
//  - PATH naming a directory: every regular file directly in it (not in subdirectories) whose
//    name ends in .yaml, .yml or .json, in byte order of their names. A directory holding none
//    is an error: a typo in a path must not apply nothing and succeed.
//  - A missing PATH is NotFound; a file that cannot be read, or one larger than
//    kMaxManifestBytes (api/manifest.h), is Invalid. Every message names the path.
// A file's name is PATH for a file, PATH/NAME for a directory's entry; parse errors cite it.
//
// Reads files, nothing else; thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "api/status.h"

namespace tide {

struct ManifestFile {
  std::string name;  // as described above; "stdin" for tidectl's "-"
  std::string content;
};

// Appends the files of `path` to *out, in order. On error *out may hold some of them.
Status ReadManifestPath(const std::string& path, std::vector<ManifestFile>* out);

}  // namespace tide
