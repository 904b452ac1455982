from csws.cli import main

raise SystemExit(main())
