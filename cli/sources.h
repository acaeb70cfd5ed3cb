// Manifest sources for `tidectl apply -f` and `tidectl delete -f`: expands the -f paths into
// files, builds the single apply request, and lists the objects a file names.
//
// A path is "-" (standard input, named "stdin") or what api/manifest_files.h reads (a file, or
// a directory's *.yaml, *.yml and *.json files: the same rule as `tided --manifests`). Pure
// apart from reading files; thread-compatible.
#pragma once

#include <istream>
#include <string>
#include <vector>

#include "api/client.h"
#include "api/manifest_files.h"
#include "api/status.h"

namespace tide::cli {

// Reads every path in order. Missing paths, unreadable files and directories without manifests
// are errors (kInvalid / kNotFound) naming the path; "-" may be given once.
Status ReadManifestFiles(const std::vector<std::string>& paths, std::istream& stdin_stream,
                         std::vector<ManifestFile>* out);

// The one request that applies all files at once (all or nothing on the server):
//   one file:  its content, Content-Type application/yaml (application/json for *.json),
//              header X-Tide-Filename: NAME
//   several:   {"files":[{"name","content"}...]}, Content-Type application/vnd.tide.files+json
struct ApplyRequest {
  std::string body;
  std::string content_type;
  HeaderMap headers;
};
ApplyRequest BuildApplyRequest(const std::vector<ManifestFile>& files);

struct ObjectRef {
  std::string kind;  // as written: Service, Function, Layer
  std::string name;
};

// The kind and metadata.name of every document in `file` (YAML or JSON); used by delete -f.
// A document without kind or name is an error naming the file and document number.
Status ListObjects(const ManifestFile& file, std::vector<ObjectRef>* out);

}  // namespace tide::cli
