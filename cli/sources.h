// Manifest sources for `tidectl apply -f` and `tidectl delete -f`: expands the -f paths into
// files, builds the single apply request, and lists the objects a file names.
//
// A path is a file, a directory (every *.yaml, *.yml and *.json directly in it, sorted by name,
// not recursive) or "-" (standard input, named "stdin"). Pure apart from reading files;
// thread-compatible.
#pragma once

#include <istream>
#include <string>
#include <vector>

#include "api/client.h"
#include "api/status.h"

namespace tide::cli {

struct ManifestFile {
  std::string name;  // as the user wrote it (or path inside the directory); "stdin" for "-"
  std::string content;
};

// Reads every path in order. Missing paths, unreadable files and directories without manifests
// are errors (kInvalid / kNotFound) naming the path.
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
