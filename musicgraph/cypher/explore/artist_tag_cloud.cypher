// An artist's tag cloud
// How do listeners describe $artist? Its tags by weight (number of users who applied them), with
// how many other artists share each tag (lower = more distinctive).
:param artist => 'radiohead';
:param limit => 20;

MATCH (a:Artist {uid: $artist})-[t:TAGGED]->(tag:Tag)
OPTIONAL MATCH (tag)<-[:TAGGED]-(other:Artist)
WHERE other <> a
WITH tag, t.weight AS weight, count(DISTINCT other) AS artists_sharing
RETURN tag.name AS tag, weight, artists_sharing
ORDER BY weight DESC, tag
LIMIT $limit;
