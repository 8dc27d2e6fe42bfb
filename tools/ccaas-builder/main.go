// The chaincode-as-a-service external builder for the peers: one program installed three times as
// bin/detect, bin/build and bin/release, choosing its phase by the name it was run under.
//
// Fabric's own ccaas builder (ccaas_builder/ in the fabric repository) is a separate Go module that the
// module proxy does not serve, so the project carries this equivalent, written to the external builder
// contract (https://hyperledger-fabric.readthedocs.io/en/release-2.5/cc_service.html):
//
//	detect  <source> <metadata>                                    exit 0 when metadata.json says type "ccaas"
//	build   <source> <metadata> <output>                           copy metadata, META-INF, connection.json
//	release <build-output> <release>                               connection.json → release/chaincode/server/
//
// As in Fabric's builder, the string fields of connection.json may be Go templates filled from the JSON
// object in CHAINCODE_AS_A_SERVICE_BUILDER_CONFIG (e.g. {"peername":"peer0province"}), so one package can
// point each peer at its own chaincode server.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

type metadata struct {
	Type string `json:"type"`
}

type connection struct {
	Address     string `json:"address"`
	DialTimeout string `json:"dial_timeout"`
	TLS         bool   `json:"tls_required"`
	ClientAuth  bool   `json:"client_auth_required"`
	RootCert    string `json:"root_cert"`
	ClientKey   string `json:"client_key"`
	ClientCert  string `json:"client_cert"`
}

func main() {
	phase := filepath.Base(os.Args[0])
	var err error
	switch phase {
	case "detect":
		err = detect(os.Args[1:])
	case "build":
		err = build(os.Args[1:])
	case "release":
		err = release(os.Args[1:])
	default:
		err = fmt.Errorf("run me as detect, build or release, not %q", phase)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ccaas %s: %v\n", phase, err)
		os.Exit(1)
	}
}

func readType(metadataDir string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(metadataDir, "metadata.json"))
	if err != nil {
		return "", err
	}
	var md metadata
	if err := json.Unmarshal(raw, &md); err != nil {
		return "", fmt.Errorf("metadata.json: %w", err)
	}
	return strings.ToLower(md.Type), nil
}

// detect <source> <metadata>: claims ccaas packages only, so other builders (or none) take the rest.
func detect(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: detect <source> <metadata>")
	}
	t, err := readType(args[1])
	if err != nil {
		return err
	}
	if t != "ccaas" {
		return fmt.Errorf("chaincode type %q is not ccaas", t)
	}
	return nil
}

// build <source> <metadata> <output>
func build(args []string) error {
	if len(args) < 3 {
		return errors.New("usage: build <source> <metadata> <output>")
	}
	source, metadataDir, output := args[0], args[1], args[2]
	if t, err := readType(metadataDir); err != nil {
		return err
	} else if t != "ccaas" {
		return fmt.Errorf("chaincode type %q is not ccaas", t)
	}
	if err := copyTree(metadataDir, output); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(source, "META-INF")); err == nil {
		if err := copyTree(filepath.Join(source, "META-INF"), filepath.Join(output, "META-INF")); err != nil {
			return err
		}
	}
	raw, err := os.ReadFile(filepath.Join(source, "connection.json"))
	if err != nil {
		return err
	}
	var c connection
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("connection.json: %w", err)
	}
	var cfg map[string]any
	if s := os.Getenv("CHAINCODE_AS_A_SERVICE_BUILDER_CONFIG"); s != "" {
		if err := json.Unmarshal([]byte(s), &cfg); err != nil {
			return fmt.Errorf("CHAINCODE_AS_A_SERVICE_BUILDER_CONFIG: %w", err)
		}
	}
	type field struct {
		in  string
		out *string
	}
	out := connection{TLS: c.TLS}
	fields := []field{{c.Address, &out.Address}, {c.DialTimeout, &out.DialTimeout}}
	if c.TLS {
		out.ClientAuth = c.ClientAuth
		fields = append(fields, field{c.RootCert, &out.RootCert}, field{c.ClientKey, &out.ClientKey}, field{c.ClientCert, &out.ClientCert})
	}
	for _, f := range fields {
		t, err := template.New("").Option("missingkey=error").Parse(f.in)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, cfg); err != nil {
			return err
		}
		*f.out = buf.String()
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(output, "connection.json"), b, 0o644)
}

// release <build-output> <release>
func release(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: release <build-output> <release>")
	}
	output, rel := args[0], args[1]
	if _, err := os.Stat(filepath.Join(output, "META-INF", "statedb")); err == nil {
		if err := copyTree(filepath.Join(output, "META-INF", "statedb"), filepath.Join(rel, "statedb")); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(rel, "chaincode", "server"), 0o750); err != nil {
		return err
	}
	return copyFile(filepath.Join(output, "connection.json"), filepath.Join(rel, "chaincode", "server", "connection.json"))
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o750)
		}
		return copyFile(p, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
