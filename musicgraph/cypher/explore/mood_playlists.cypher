// Songs of a mood, by label and playlist evidence
// Which songs best fit the mood $mood? A song labelled with it directly scores 2, and each playlist
// of that mood it appears in adds 1.
:param mood => 'sad';
:param limit => 20;

MATCH (m:Mood {uid: $mood})
CALL (m) {
  MATCH (s:Song)-[:HAS_MOOD]->(m)
  RETURN s, 1 AS direct, 0 AS pl
  UNION ALL
  MATCH (s:Song)-[:IN_PLAYLIST]->(:Playlist)-[:HAS_MOOD]->(m)
  RETURN s, 0 AS direct, 1 AS pl
}
WITH s, max(direct) AS labelled, sum(pl) AS playlists
RETURN s.uid AS song, s.artist AS artist, s.title AS title, labelled = 1 AS labelled, playlists,
       2 * labelled + playlists AS score
ORDER BY score DESC, song
LIMIT $limit;
