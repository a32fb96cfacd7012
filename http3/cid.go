package http3

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/quic-go/quic-go"
)

// cidLen is the length of every connection ID a Server issues.
const cidLen = 16

// A marker issues the connection IDs of one generation and reads the
// generation back from any connection ID of the lineage. An ID is one
// AES block, encrypted with a key every generation shares (from
// Process.Secret): the generation (4 bytes), 4 zero bytes that tell an ID
// of the lineage from a client's random one (a false match is 1 in 2^32),
// and 8 random bytes. Encrypted, the IDs of one connection cannot be
// linked by an observer, as RFC 9000 section 9.5 asks, and nobody outside
// the lineage can forge an ID that routes to a generation.
type marker struct {
	block cipher.Block
	gen   uint32
}

func newMarker(key [32]byte, gen int) (*marker, error) {
	if gen < 1 || gen > 1<<32-1 {
		return nil, fmt.Errorf("generation %d cannot be marked", gen)
	}
	b, err := aes.NewCipher(key[:16])
	if err != nil {
		return nil, err
	}
	return &marker{block: b, gen: uint32(gen)}, nil
}

// GenerateConnectionID implements quic.ConnectionIDGenerator.
func (m *marker) GenerateConnectionID() (quic.ConnectionID, error) {
	var plain, id [cidLen]byte
	binary.BigEndian.PutUint32(plain[:4], m.gen)
	if _, err := rand.Read(plain[8:]); err != nil {
		return quic.ConnectionID{}, err
	}
	m.block.Encrypt(id[:], plain[:])
	return quic.ConnectionIDFromBytes(id[:]), nil
}

// ConnectionIDLen implements quic.ConnectionIDGenerator.
func (m *marker) ConnectionIDLen() int { return cidLen }

// generation returns the generation that issued id, and false when id is
// not one of the lineage's.
func (m *marker) generation(id []byte) (uint32, bool) {
	if len(id) != cidLen {
		return 0, false
	}
	var plain [cidLen]byte
	m.block.Decrypt(plain[:], id)
	if binary.BigEndian.Uint32(plain[4:8]) != 0 {
		return 0, false
	}
	return binary.BigEndian.Uint32(plain[:4]), true
}

// destinationID returns the destination connection ID of a QUIC packet:
// after the version in a long header, right after the first byte (and
// cidLen long, the length of the IDs the lineage issues) in a short one.
func destinationID(b []byte) (id []byte, long bool, ok bool) {
	if len(b) == 0 {
		return nil, false, false
	}
	if b[0]&0x80 != 0 {
		if len(b) < 6 {
			return nil, true, false
		}
		n := int(b[5])
		if n > 20 || len(b) < 6+n {
			return nil, true, false
		}
		return b[6 : 6+n], true, true
	}
	if len(b) < 1+cidLen {
		return nil, false, false
	}
	return b[1 : 1+cidLen], false, true
}
